#include "bench/scenarios.h"

#include <atomic>
#include <cstdint>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "plantmesh/defect/v1/defect_service.pm_client.h"
#include "plantmesh/system/v1/system_service.pm_client.h"

namespace plantmesh::bench {
namespace {

namespace defect_v1 = ::plantmesh::defect::v1;
namespace system_v1 = ::plantmesh::system::v1;

// Hands each worker its channel: the one shared channel, or a fresh one with a private
// connection.
class ChannelSource {
 public:
  static absl::StatusOr<std::shared_ptr<ChannelSource>> Create(const ScenarioOptions& options) {
    auto source = std::shared_ptr<ChannelSource>(new ChannelSource(options));
    if (options.sharing == ChannelSharing::kShared) {
      absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = sdk::MakeChannel(options.client);
      if (!channel.ok()) return channel.status();
      source->shared_ = *std::move(channel);
    }
    return source;
  }

  absl::StatusOr<std::shared_ptr<grpc::Channel>> ForWorker() const {
    if (shared_ != nullptr) return shared_;
    sdk::ClientOptions private_options = options_.client;
    private_options.private_connection_pool = true;
    return sdk::MakeChannel(private_options);
  }

  const sdk::ClientOptions& client_options() const { return options_.client; }

 private:
  explicit ChannelSource(const ScenarioOptions& options) : options_(options) {}
  ScenarioOptions options_;
  std::shared_ptr<grpc::Channel> shared_;
};

WorkerFactory WhoAmIScenario(std::shared_ptr<ChannelSource> channels) {
  return [channels](int) -> absl::StatusOr<RequestFn> {
    absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = channels->ForWorker();
    if (!channel.ok()) return channel.status();
    auto client = std::make_shared<sdk::SystemClient>(*channel, channels->client_options());
    // The first call opens the connection (TLS handshake) outside the measurement.
    if (absl::StatusOr<system_v1::WhoAmIResponse> first = client->WhoAmI({}); !first.ok()) {
      return first.status();
    }
    return RequestFn([client]() { return client->WhoAmI({}).status(); });
  };
}

// A category unique to this run, so that runs against one database never collide.
std::string RunCategoryCode() {
  return absl::StrFormat("BENCH-%X", absl::ToUnixMicros(absl::Now()) & 0xFFFFFFFFFF);
}

defect_v1::CreateDefectRequest DefectTemplate(const std::string& category_code) {
  defect_v1::CreateDefectRequest request;
  defect_v1::Defect* defect = request.mutable_defect();
  defect->set_model("SEDAN-2.0");
  defect->set_zone("PAINT");
  defect->set_station("P-07");
  defect->set_category_code(category_code);
  defect->set_severity(defect_v1::SEVERITY_MINOR);
  defect->set_description("Scratch on the left rear door, 4 cm, found at final inspection");
  defect->set_detected_by("bench");
  defect->set_shift("2026-11-21/A");
  return request;
}

absl::StatusOr<WorkerFactory> CreateDefectScenario(std::shared_ptr<ChannelSource> channels) {
  absl::StatusOr<std::shared_ptr<grpc::Channel>> setup_channel = channels->ForWorker();
  if (!setup_channel.ok()) return setup_channel.status();
  sdk::DefectClient setup(*setup_channel, channels->client_options());
  defect_v1::CreateDefectCategoryRequest category_request;
  category_request.mutable_category()->set_code(RunCategoryCode());
  category_request.mutable_category()->set_title("Load test category");
  category_request.mutable_category()->set_default_severity(defect_v1::SEVERITY_MINOR);
  absl::StatusOr<defect_v1::CreateDefectCategoryResponse> category =
      setup.CreateDefectCategory(category_request);
  if (!category.ok()) {
    return absl::Status(category.status().code(),
                        absl::StrCat("creating the bench category: ", category.status().message()));
  }
  const defect_v1::CreateDefectRequest request_template =
      DefectTemplate(category->category().code());

  return WorkerFactory([channels, request_template](int index) -> absl::StatusOr<RequestFn> {
    absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = channels->ForWorker();
    if (!channel.ok()) return channel.status();
    auto client = std::make_shared<sdk::DefectClient>(*channel, channels->client_options());
    // Opens the connection outside the measurement (WhoAmI writes nothing).
    sdk::SystemClient probe(*channel, channels->client_options());
    if (absl::StatusOr<system_v1::WhoAmIResponse> first = probe.WhoAmI({}); !first.ok()) {
      return first.status();
    }
    auto sequence = std::make_shared<int64_t>(0);
    return RequestFn([client, request_template, index, sequence]() {
      defect_v1::CreateDefectRequest request = request_template;
      // A distinct VIN per defect, as on a real line: W<worker>-<n>.
      request.mutable_defect()->set_vin(absl::StrCat("W", index, "-", ++*sequence));
      return client->CreateDefect(std::move(request)).status();
    });
  });
}

}  // namespace

absl::StatusOr<WorkerFactory> PrepareScenario(const ScenarioOptions& options) {
  if (absl::Status valid = options.client.Validate(); !valid.ok()) return valid;
  absl::StatusOr<std::shared_ptr<ChannelSource>> channels = ChannelSource::Create(options);
  if (!channels.ok()) return channels.status();
  if (options.name == "whoami") return WhoAmIScenario(*std::move(channels));
  if (options.name == "create-defect") return CreateDefectScenario(*std::move(channels));
  return absl::InvalidArgumentError(
      absl::StrCat("unknown scenario '", options.name, "' (whoami, create-defect)"));
}

}  // namespace plantmesh::bench
