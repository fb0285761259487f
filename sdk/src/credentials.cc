#include "plantmesh/sdk/internal/credentials.h"

#include <grpc/support/log.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "plantmesh/common/certificate_validity.h"
#include "plantmesh/common/openssl_handles.h"

namespace plantmesh::sdk::internal {
namespace {

using Bio = common::BioPtr;
using Cert = common::X509Ptr;
using Pkey = common::PkeyPtr;

Bio MemoryBio(const std::string& text) {
  return Bio(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
}

std::string Quoted(const std::string& path) { return "\"" + path + "\""; }

// The file's text, or the problem ("<option>: ...").
std::optional<std::string> ReadPemFile(const std::string& option, const std::string& path,
                                       std::vector<std::string>* problems) {
  if (path.empty()) {
    problems->push_back(option + ": required unless insecure");
    return std::nullopt;
  }
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    problems->push_back(option + ": cannot read " + Quoted(path));
    return std::nullopt;
  }
  std::ostringstream text;
  text << file.rdbuf();
  if (text.str().find("-----BEGIN ") == std::string::npos) {
    problems->push_back(option + ": " + Quoted(path) + " is not a PEM file");
    return std::nullopt;
  }
  return text.str();
}

// Every certificate in `pem`, in order.
std::vector<Cert> Certificates(const std::string& pem) {
  std::vector<Cert> certs;
  Bio bio = MemoryBio(pem);
  while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    certs.emplace_back(cert);
  }
  ERR_clear_error();  // the end of the file reads as an error
  return certs;
}

// OpenSSL's passphrase callback: hands over key_passphrase, and remembers that the key
// asked for one (it is encrypted).
struct Passphrase {
  const std::string* given;
  bool asked = false;
};

int PassphraseCallback(char* buffer, int size, int /*rwflag*/, void* user) {
  auto* passphrase = static_cast<Passphrase*>(user);
  passphrase->asked = true;
  if (passphrase->given->empty()) return -1;  // no passphrase: do not try to decrypt
  const int length = static_cast<int>(passphrase->given->size());
  if (length > size) return -1;
  std::memcpy(buffer, passphrase->given->data(), static_cast<size_t>(length));
  return length;
}

Pkey ReadKey(const std::string& pem, const std::string& path, const std::string& passphrase,
             std::vector<std::string>* problems) {
  Passphrase callback{&passphrase};
  Bio bio = MemoryBio(pem);
  Pkey key(PEM_read_bio_PrivateKey(bio.get(), nullptr, PassphraseCallback, &callback));
  ERR_clear_error();
  if (key != nullptr) return key;
  if (callback.asked && passphrase.empty()) {
    problems->push_back("key_file: " + Quoted(path) +
                        " is encrypted; give its passphrase (key_passphrase) or store it "
                        "decrypted (openssl pkey -in KEY -out PLAIN_KEY)");
  } else if (callback.asked) {
    problems->push_back("key_file: cannot decrypt " + Quoted(path) +
                        " with the given key_passphrase");
  } else {
    problems->push_back("key_file: " + Quoted(path) + " holds no private key");
  }
  return nullptr;
}

std::string UnencryptedPem(EVP_PKEY* key) {
  Bio out(BIO_new(BIO_s_mem()));
  if (PEM_write_bio_PrivateKey(out.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    ERR_clear_error();
    return "";
  }
  char* data = nullptr;
  const long size = BIO_get_mem_data(out.get(), &data);
  return std::string(data, static_cast<size_t>(size));
}

std::vector<std::string> Load(const ClientOptions& options, TlsFiles* files) {
  std::vector<std::string> problems;
  if (options.insecure) return problems;
  std::optional<std::string> ca = ReadPemFile("ca_file", options.ca_file, &problems);
  std::optional<std::string> cert = ReadPemFile("cert_file", options.cert_file, &problems);
  std::optional<std::string> key = ReadPemFile("key_file", options.key_file, &problems);
  if (ca) {
    const std::vector<Cert> anchors = Certificates(*ca);
    std::vector<X509*> read;
    for (const Cert& c : anchors) read.push_back(c.get());
    if (anchors.empty()) {
      problems.push_back("ca_file: " + Quoted(options.ca_file) + " holds no certificate");
    } else if (std::optional<std::string> why = common::NoValidCaProblem(read, absl::Now())) {
      // The server's certificate would not verify: said now, not at the first call's
      // handshake (outside testing: a user's certificate given as ca_file connected).
      problems.push_back("ca_file: " + Quoted(options.ca_file) +
                         " holds no CA certificate valid now (the last one read: " + *why +
                         "): the server's certificate would not verify");
    }
  }
  Cert leaf;
  if (cert) {
    std::vector<Cert> chain = Certificates(*cert);
    if (chain.empty()) {
      problems.push_back("cert_file: " + Quoted(options.cert_file) + " holds no certificate");
    } else {
      leaf = std::move(chain.front());
    }
  }
  if (leaf != nullptr) {
    // The server would refuse it, and the handshake's failure say less.
    if (std::optional<std::string> invalid =
            common::CertificateValidityProblem(leaf.get(), absl::Now())) {
      problems.push_back("cert_file: " + Quoted(options.cert_file) + " " + *invalid);
    }
    // What the server's check refuses besides (server/runtime/client_certificate_check.h),
    // said before a handshake the server would close without a word.
    if (X509_check_purpose(leaf.get(), X509_PURPOSE_SSL_CLIENT, 0) != 1) {
      problems.push_back("cert_file: " + Quoted(options.cert_file) +
                         " is not for client authentication (it needs extendedKeyUsage "
                         "clientAuth, or none, and keyUsage digitalSignature)");
    } else if (X509_check_ca(leaf.get()) != 0) {
      problems.push_back("cert_file: " + Quoted(options.cert_file) +
                         " is a CA's certificate: a client presents a leaf (plantctl pki issue)");
    }
    ERR_clear_error();
  }
  Pkey private_key;
  if (key) private_key = ReadKey(*key, options.key_file, options.key_passphrase, &problems);
  if (leaf != nullptr && private_key != nullptr &&
      X509_check_private_key(leaf.get(), private_key.get()) != 1) {
    ERR_clear_error();
    problems.push_back("key_file: " + Quoted(options.key_file) +
                       " is not the key of the certificate in cert_file " +
                       Quoted(options.cert_file));
  }
  if (problems.empty() && files != nullptr) {
    files->ca_pem = *std::move(ca);
    files->cert_pem = *std::move(cert);
    files->key_pem = UnencryptedPem(private_key.get());
    if (files->key_pem.empty()) {
      problems.push_back("key_file: cannot re-encode the key of " + Quoted(options.key_file));
    }
  }
  return problems;
}

}  // namespace

std::vector<std::string> TlsFileProblems(const ClientOptions& options) {
  return Load(options, nullptr);
}

absl::StatusOr<TlsFiles> LoadTlsFiles(const ClientOptions& options) {
  TlsFiles files;
  std::vector<std::string> problems = Load(options, &files);
  if (!problems.empty()) {
    return absl::InvalidArgumentError("invalid client options: " + absl::StrJoin(problems, "; "));
  }
  return files;
}

void QuietGrpcLogUnlessAsked() {
  static std::once_flag once;
  std::call_once(once, [] {
    const char* asked = std::getenv("GRPC_VERBOSITY");
    if (asked != nullptr && *asked != '\0') return;
    // gRPC prints a message when its severity is at least this threshold; one above
    // ERROR prints nothing. Set before gRPC initialises, it is kept (gRPC reads
    // GRPC_VERBOSITY only while the threshold is unset).
    gpr_set_log_verbosity(static_cast<gpr_log_severity>(GPR_LOG_SEVERITY_ERROR + 1));
  });
}

}  // namespace plantmesh::sdk::internal
