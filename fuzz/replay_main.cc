// The driver of a fuzz target in builds without libFuzzer (g++, the sanitizer builds):
// a regression test that runs the target's own seeds, every file of the corpus
// directories given, and then a fixed number of deterministic mutations of them (the
// same inputs on every run: a failure reproduces). A broken invariant aborts (FUZZ_CHECK)
// after the input is written to stderr in hex and, with --crash-dir, to a file.
//
//   <target> [--mutations N] [--crash-dir DIR] [--write-seeds DIR] [CORPUS_DIR|FILE ...]
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <random>
#include <sstream>

#include "fuzz/fuzz_check.h"

namespace {

namespace fs = std::filesystem;

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// The input being run, for the abort handler to report.
const std::string* g_current = nullptr;
std::string g_crash_dir;

void ReportCurrent(int) {
  if (g_current != nullptr) {
    std::fprintf(stderr, "fuzz: the input (%zu bytes, hex):\n", g_current->size());
    for (unsigned char c : *g_current) std::fprintf(stderr, "%02x", c);
    std::fprintf(stderr, "\n");
    if (!g_crash_dir.empty()) {
      std::ofstream out(fs::path(g_crash_dir) / "crash-input", std::ios::binary);
      out.write(g_current->data(), static_cast<std::streamsize>(g_current->size()));
    }
  }
  std::_Exit(1);
}

void Run(const std::string& input) {
  g_current = &input;
  LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(input.data()), input.size());
  g_current = nullptr;
}

// One of libFuzzer's simpler mutations, chosen by `rng`.
std::string Mutate(std::string input, const std::vector<std::string>& corpus,
                   std::mt19937_64& rng) {
  static constexpr unsigned char kInteresting[] = {0x00, 0x01, 0x7f, 0x80, 0xff, 0xfe, 0x0a,
                                                   0x12, 0x1a, 0x22, 0xc0, 0xed, 0xf4};
  auto below = [&rng](size_t n) { return n == 0 ? 0 : static_cast<size_t>(rng() % n); };
  const int rounds = 1 + static_cast<int>(below(4));
  for (int r = 0; r < rounds; ++r) {
    switch (below(7)) {
      case 0:  // flip a bit
        if (!input.empty()) input[below(input.size())] ^= static_cast<char>(1u << below(8));
        break;
      case 1:  // an interesting byte
        if (!input.empty()) {
          input[below(input.size())] = static_cast<char>(kInteresting[below(sizeof(kInteresting))]);
        }
        break;
      case 2:  // insert random bytes
        input.insert(below(input.size() + 1), std::string(1 + below(8), static_cast<char>(rng())));
        break;
      case 3:  // erase a range
        if (!input.empty()) {
          const size_t at = below(input.size());
          input.erase(at, 1 + below(input.size() - at));
        }
        break;
      case 4:  // repeat a range
        if (!input.empty()) {
          const size_t at = below(input.size());
          const std::string piece = input.substr(at, 1 + below(16));
          input.insert(below(input.size() + 1), piece);
        }
        break;
      case 5: {  // splice with another input
        const std::string& other = corpus[below(corpus.size())];
        input = input.substr(0, below(input.size() + 1)) + other.substr(below(other.size() + 1));
        break;
      }
      default:  // cut the end
        input.resize(below(input.size() + 1));
        break;
    }
  }
  return input;
}

}  // namespace

int main(int argc, char** argv) {
  long mutations = 20000;
  std::vector<std::string> corpus = plantmesh::fuzz::Seeds();
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--mutations" && i + 1 < argc) {
      mutations = std::stol(argv[++i]);
    } else if (arg == "--crash-dir" && i + 1 < argc) {
      g_crash_dir = argv[++i];
    } else if (arg == "--write-seeds" && i + 1 < argc) {
      const fs::path dir = argv[++i];
      fs::create_directories(dir);
      int n = 0;
      for (const std::string& seed : corpus) {
        std::ofstream(dir / ("seed-" + std::to_string(n++)), std::ios::binary) << seed;
      }
      std::cout << "wrote " << n << " seeds to " << dir.string() << "\n";
      return 0;
    } else if (fs::is_directory(arg)) {
      for (const auto& entry : fs::directory_iterator(arg)) {
        // The directory's README says what it holds; it is not an input.
        if (entry.is_regular_file() && entry.path().filename() != "README") {
          corpus.push_back(ReadFile(entry.path()));
        }
      }
    } else if (fs::is_regular_file(arg)) {
      corpus.push_back(ReadFile(arg));
    } else {
      std::cerr << "usage: " << argv[0]
                << " [--mutations N] [--crash-dir DIR] [--write-seeds DIR] [CORPUS_DIR|FILE ...]\n";
      return 2;
    }
  }
  std::signal(SIGABRT, ReportCurrent);
  for (const std::string& input : corpus) Run(input);
  std::mt19937_64 rng(20261204);  // fixed: the same inputs every run
  if (corpus.empty()) corpus.emplace_back();
  for (long i = 0; i < mutations; ++i) {
    Run(Mutate(corpus[static_cast<size_t>(rng() % corpus.size())], corpus, rng));
  }
  std::cout << "ran " << corpus.size() << " corpus inputs and " << mutations
            << " mutations: every invariant held\n";
  return 0;
}
