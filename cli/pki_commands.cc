#include "cli/pki_commands.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "cli/atomic_file.h"
#include "cli/number_check.h"
#include "cli/pki.h"
#include "cli/role_bindings.h"
#include "plantmesh/common/status_macros.h"
#include "plantmesh/common/time_text.h"

namespace plantmesh::cli {
namespace {

// The trust domain InitCa recorded as the CA subject's O.
std::string TrustDomainOfCa(const std::string& ca_dir) {
  absl::StatusOr<pki::CertificateInfo> ca =
      pki::ReadCertificateInfo((std::filesystem::path(ca_dir) / "ca.crt").string());
  if (!ca.ok()) return "";
  for (absl::string_view part : absl::StrSplit(ca->subject, ',')) {
    if (absl::ConsumePrefix(&part, "O=")) return std::string(part);
  }
  return "";
}

// OK when a file can be written at `path` as WriteFileAtomically writes it (a temporary
// file beside it, renamed; through a symbolic link, beside the file it points to): it is
// no directory, and the directory it goes in is one that takes new files (re-test: a
// parent that was a file, or a link into no directory, failed after the certificate was
// written).
absl::Status CheckWritableBeside(const std::string& path, absl::string_view flag) {
  namespace fs = std::filesystem;
  std::error_code error;
  fs::path target = path;
  if (fs::is_symlink(target, error)) {
    const fs::path link = fs::read_symlink(target, error);
    target = link.is_absolute() ? link : target.parent_path() / link;
  }
  auto refuse = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, " ", path, ": ", why, "; nothing written"));
  };
  if (fs::is_directory(target, error)) {
    return refuse(absl::StrCat("is a directory; give the role-binding file (e.g. ",
                               (fs::path(path) / "role-bindings.json").string(), ")"));
  }
  fs::path dir = target.parent_path();
  if (dir.empty()) dir = ".";
  if (!fs::is_directory(dir, error)) {
    return refuse(absl::StrCat(dir.string(),
                               fs::exists(dir, error) ? " is not a directory" : " does not exist"));
  }
  if (access(dir.c_str(), W_OK | X_OK) != 0) {
    return refuse(absl::StrCat("cannot write in ", dir.string(), ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

}  // namespace

PkiCommands::PkiCommands(CLI::App* root) {
  pki_ = root->add_subcommand("pki", "Development certificate authority (mutual TLS identities)");
  pki_->require_subcommand(1);
  pki_->group("Tools");

  init_ = pki_->add_subcommand("init", "Create a CA (DIR/ca.crt, DIR/ca.key); never overwrites");
  init_->add_option("--dir", dir_, "CA directory")->required();
  init_->add_option("--trust-domain", trust_domain_,
                    "Trust domain of the identities (default plantmesh.local)");

  issue_ = pki_->add_subcommand("issue",
                                "Issue DIR/NAME.crt and DIR/NAME.key with the identity "
                                "spiffe://<trust-domain>/<kind>/<name>;\n"
                                "with --role, also set that identity's roles in the role-binding "
                                "file, and print the identity");
  issue_->add_option("--dir", dir_, "CA directory (holds ca.crt, ca.key)")->required();
  issue_->add_option("--name", name_, "Name, e.g. anna or plantmesh-server")->required();
  issue_->add_option("--kind", kind_, "Identity kind")
      ->check(CLI::IsMember({"user", "service", "device", "server"}))
      ->capture_default_str();
  issue_->add_option("--role", roles_,
                     "Role to bind (repeatable): operator, mechanic, foreman, "
                     "qc_engineer, planner, manager, admin, integrator");
  issue_->add_option("--dns", dns_, "DNS name SAN (server certificates; repeatable)");
  issue_->add_option("--ip", ips_, "IP address SAN (server certificates; repeatable)");
  // Whole days, up to about 8,000 years (the certificate's end is checked against
  // 9999-12-31 when issued); outside testing: 3000000000 and 1e2 got CLI11's "Could not
  // convert".
  issue_->add_option("--days", days_, "Validity in days, from the issue")
      ->capture_default_str()
      ->check(WholeNumberFrom(1, 2920000));
  issue_->add_option("--bindings", bindings_,
                     "Role-binding file to update (default DIR/role-bindings.json)");
  issue_->add_option("--out", out_dir_, "Where to write the files (default DIR)");
  issue_->add_option("--trust-domain", trust_domain_, "Trust domain (default: the CA's)");

  show_ = pki_->add_subcommand("show", "Print a certificate's subject, identity and validity");
  show_->add_option("file", show_file_, "PEM certificate")->required()->check(CLI::ExistingFile);
}

bool PkiCommands::Selected() const { return pki_->parsed(); }

absl::Status PkiCommands::Run(std::ostream& out) const {
  if (init_->parsed()) return RunInit(out);
  if (issue_->parsed()) return RunIssue(out);
  return RunShow(out);
}

absl::Status PkiCommands::RunInit(std::ostream& out) const {
  pki::CaOptions options;
  options.dir = dir_;
  if (!trust_domain_.empty()) options.trust_domain = trust_domain_;
  PM_RETURN_IF_ERROR(pki::InitCa(options));
  out << "CA created: " << dir_ << "/ca.crt (trust domain " << options.trust_domain << ")\n";
  return absl::OkStatus();
}

absl::Status PkiCommands::RunIssue(std::ostream& out) const {
  // A host name or address makes a certificate a server's; a person's or a device's
  // identity serving a service would let clients trust it as one (outside testing: a
  // user certificate with --dns served the defect service, and plantctl trusted it).
  if ((kind_ == "user" || kind_ == "device") && (!dns_.empty() || !ips_.empty())) {
    return absl::InvalidArgumentError(
        absl::StrCat("--dns/--ip: a ", kind_,
                     " certificate is a client's only; issue a server's with --kind service "
                     "(or server)"));
  }
  pki::IssueOptions options;
  options.ca_dir = dir_;
  options.out_dir = out_dir_.empty() ? dir_ : out_dir_;
  options.name = name_;
  options.kind = kind_;
  options.trust_domain = !trust_domain_.empty() ? trust_domain_ : TrustDomainOfCa(dir_);
  if (options.trust_domain.empty()) options.trust_domain = "plantmesh.local";
  options.dns_names = dns_;
  options.ip_addresses = ips_;
  options.server = kind_ == "server" || !dns_.empty() || !ips_.empty();
  options.validity = absl::Hours(24) * days_;
  // The options, the roles and the binding file are checked before anything is written
  // (outside testing: a refused role, a binding file in no directory, left a signed
  // certificate and key behind; a bad --name was blamed on the binding file).
  PM_RETURN_IF_ERROR(pki::CheckIssueOptions(options));
  const std::string bindings =
      bindings_.empty() ? (std::filesystem::path(dir_) / "role-bindings.json").string() : bindings_;
  std::string bound_text;
  if (!roles_.empty()) {
    // The servers of this CA authenticate its trust domain: a binding of another could
    // never match, and they would refuse the file (re-test: plantctl wrote one, and then
    // refused the file itself).
    if (const std::string ca_domain = TrustDomainOfCa(dir_);
        !ca_domain.empty() && ca_domain != options.trust_domain) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--trust-domain ", options.trust_domain, " with --role: the servers of the CA in ", dir_,
          " authenticate ", ca_domain,
          ", so a binding of another trust domain could never match; nothing written"));
    }
    PM_RETURN_IF_ERROR(CheckWritableBeside(bindings, "--bindings"));
    PM_ASSIGN_OR_RETURN(
        bound_text,
        pki::BoundRolesText(
            bindings, pki::IdentityFor(options.trust_domain, options.kind, options.name), roles_));
  }
  PM_ASSIGN_OR_RETURN(pki::IssuedCertificate issued, pki::Issue(options));
  if (!roles_.empty()) {
    PM_RETURN_IF_ERROR(pki::WriteFileAtomically(bindings, bound_text, 0644));
    out << "# roles " << absl::StrJoin(roles_, ",") << " bound in " << bindings << "\n";
    // Where a prefix binding also matches it, its roles add up (re-test: said by the
    // servers' log only).
    for (const std::string& overlap : pki::OverlapsOf(
             bound_text, pki::IdentityFor(options.trust_domain, options.kind, options.name))) {
      out << "# note: " << overlap << "\n";
    }
  }
  out << "# " << issued.cert_file << " " << issued.key_file << "\n";
  // Outside testing: a service certificate without names was put in front of a server,
  // and every client refused it as expired or of another CA. (The identity stays the
  // last line, for scripts.)
  if (!options.server && kind_ == "service") {
    out << "# a client certificate (the service's identity when it calls others): no server "
           "can serve it; give --dns or --ip for one a server can\n";
  } else if (options.server && dns_.empty() && ips_.empty()) {
    out << "# no --dns or --ip: the certificate names no host, so no client can check the "
           "server's name against it\n";
  }
  out << issued.identity << "\n";
  return absl::OkStatus();
}

absl::Status PkiCommands::RunShow(std::ostream& out) const {
  PM_ASSIGN_OR_RETURN(pki::CertificateInfo info, pki::ReadCertificateInfo(show_file_));
  absl::Time now = absl::Now();
  out << "subject:     " << info.subject << "\n"
      << "issuer:      " << info.issuer << "\n"
      << "serial:      " << info.serial_hex << "\n"
      << "identity:    " << absl::StrJoin(info.uris, ", ") << "\n";
  if (!info.dns_names.empty())
    out << "dns:         " << absl::StrJoin(info.dns_names, ", ") << "\n";
  if (!info.ip_addresses.empty()) {
    out << "ip:          " << absl::StrJoin(info.ip_addresses, ", ") << "\n";
  }
  out << "usage:       " << (info.is_ca ? "CA" : absl::StrJoin(info.extended_key_usages, ", "))
      << "\n"
      << "not before:  " << Rfc3339Utc(info.not_before) << "\n"
      << "not after:   " << Rfc3339Utc(info.not_after) << "\n"
      << "status:      "
      << (now < info.not_before  ? "not yet valid"
          : now > info.not_after ? "EXPIRED"
                                 : "valid")
      << "\n";
  return absl::OkStatus();
}

}  // namespace plantmesh::cli
