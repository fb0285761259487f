// A running mesh for tests written in shell, Python or Node.js: starts PostgreSQL,
// Redis, a dev PKI and plantmesh-server (seeded with reference data), writes a
// shell-sourceable file describing how to reach it, and runs until SIGTERM/SIGINT,
// then stops everything and removes its files. SIGUSR1 kills plantmesh-server
// (SIGKILL) and starts it again on the same port; once it answers, the file
// <env-file>.restarts holds the number of restarts so far.
//   e2e_live_server <env-file>
#include <signal.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "tests/e2e/mesh.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <env-file>\n", argv[0]);
    return 2;
  }
  // Before any thread starts: the signals are taken by sigwait below only.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  using plantmesh::e2e::Mesh;
  absl::StatusOr<std::unique_ptr<Mesh>> mesh = Mesh::Start();
  if (!mesh.ok()) {
    std::fprintf(stderr, "e2e_live_server: %s\n", std::string(mesh.status().message()).c_str());
    return 1;
  }
  if (absl::Status seeded = (*mesh)->SeedReferenceData(); !seeded.ok()) {
    std::fprintf(stderr, "e2e_live_server: seeding: %s\n",
                 plantmesh::e2e::Describe(seeded).c_str());
    return 1;
  }
  {
    std::string temporary = std::string(argv[1]) + ".tmp";
    std::ofstream env(temporary);
    env << "PLANTMESH_ENDPOINT=" << (*mesh)->endpoint() << "\n";
    env << "PLANTMESH_CA=" << (*mesh)->pki().ca_file() << "\n";
    for (const char* user : {"anna", "mike", "quinn", "otto", "ops", "ivan", "nobody"}) {
      plantmesh::sdk::ClientOptions options = (*mesh)->OptionsFor(user);
      env << "PLANTMESH_CERT_" << user << "=" << options.cert_file << "\n";
      env << "PLANTMESH_KEY_" << user << "=" << options.key_file << "\n";
    }
    env.close();
    std::rename(temporary.c_str(), argv[1]);  // readers never see half a file
  }
  std::fprintf(stderr, "e2e_live_server: serving on %s\n", (*mesh)->endpoint().c_str());
  int signal = 0;
  int restarts = 0;
  while (sigwait(&stop_signals, &signal) == 0 && signal == SIGUSR1) {
    if (absl::Status restarted = (*mesh)->KillAndRestartServerOnSamePort(); !restarted.ok()) {
      std::fprintf(stderr, "e2e_live_server: restart: %s\n",
                   plantmesh::e2e::Describe(restarted).c_str());
      return 1;
    }
    std::string temporary = std::string(argv[1]) + ".restarts.tmp";
    std::ofstream(temporary) << ++restarts << "\n";
    std::rename(temporary.c_str(), (std::string(argv[1]) + ".restarts").c_str());
    std::fprintf(stderr, "e2e_live_server: restarted plantmesh-server (%d)\n", restarts);
  }
  std::fprintf(stderr, "e2e_live_server: stopping (signal %d); server log follows\n%s", signal,
               (*mesh)->server().log().c_str());
  mesh->reset();
  // A sanitizer finding in the server (sanitizer builds) fails the calling test.
  return plantmesh::testing::ServerProcess::SanitizerReportSeen() ? 1 : 0;
}
