// The planning service's handlers over in-process gRPC on the in-memory store, for tests
// that need no servers: a fixture with a seeded plant (3×8 in Europe/Berlin with a 30-minute
// break per shift, line PACK-1, products GRANOLA-500G and MUESLI-1KG at 3 s each) and the
// helpers that read a refusal. The call policy only names the caller (a planner).
#pragma once

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "plantmesh/planning/v1/planning_service.grpc.pb.h"
#include "plantmesh/sdk/status.h"
#include "server/planning/config.h"
#include "server/planning/service.h"
#include "server/planning/testing/fake_store.h"
#include "server/runtime/executor.h"
#include "server/runtime/testing/handler_test_support.h"

namespace plantmesh::planning::testing {

// The fields a refusal's BadRequest names, in order.
inline std::vector<std::string> FieldsOf(const grpc::Status& status) {
  std::vector<std::string> fields;
  for (const auto& v : sdk::FieldViolations(sdk::FromGrpcStatus(status))) {
    fields.push_back(v.field);
  }
  return fields;
}

// The ErrorInfo reason of a refusal.
inline std::string ReasonOf(const grpc::Status& status) {
  return sdk::ErrorReason(sdk::FromGrpcStatus(status));
}

// One ErrorInfo metadata value of a refusal ("" when absent).
inline std::string MetadataOf(const grpc::Status& status, const std::string& key) {
  return sdk::ErrorMetadata(sdk::FromGrpcStatus(status), key);
}

class PlanningServiceFixture : public ::testing::Test {
 protected:
  // `now`: the service's clock, pinned; `deadline`: of every call the fixture makes.
  explicit PlanningServiceFixture(absl::Time now, absl::Duration deadline = absl::Seconds(60))
      : now_(now), deadline_(deadline) {}

  void SetUp() override {
    config_.time_zone = time_zone_;
    deps_.config = &server_config_;
    deps_.service_config = &config_;
    deps_.call_policy = &policy_;
    deps_.executor = &executor_;
    deps_.now = [now = now_] { return now; };
    service_ = std::make_unique<PlanningServiceImpl>(deps_, &store_);
    server_ = std::make_unique<runtime::testing::InProcessServer>(service_.get());
    ASSERT_TRUE(server_->ok());
    stub_ = v1::PlanningService::NewStub(server_->channel());
    SeedPlant();
  }
  void TearDown() override {
    server_.reset();
    executor_.Shutdown();
  }

  std::unique_ptr<grpc::ClientContext> Ctx() {
    auto context = std::make_unique<grpc::ClientContext>();
    context->set_deadline(absl::ToChronoTime(absl::Now() + deadline_));
    return context;
  }

  void SeedPlant() {
    v1::CreateShiftPatternRequest pattern;
    v1::ShiftPattern* p = pattern.mutable_shift_pattern();
    p->set_id("3X8");
    p->set_display_name("Three shifts");
    for (auto [code, start, end, pause] :
         {std::tuple{"A", "06:00", "14:00", "10:00"}, std::tuple{"B", "14:00", "22:00", "18:00"},
          std::tuple{"N", "22:00", "06:00", "02:00"}}) {
      v1::ShiftDefinition* s = p->add_shifts();
      s->set_code(code);
      s->set_start_time(start);
      s->set_end_time(end);
      v1::ShiftBreak* b = s->add_breaks();
      b->set_start_time(pause);
      b->set_duration_minutes(30);
    }
    v1::CreateShiftPatternResponse pattern_out;
    ASSERT_TRUE(stub_->CreateShiftPattern(Ctx().get(), pattern, &pattern_out).ok());
    AddPackagingLine("PACK-1");
    for (const char* id : {"GRANOLA-500G", "MUESLI-1KG"}) {
      v1::CreateProductRequest product;
      product.mutable_product()->set_id(id);
      product.mutable_product()->set_display_name(id);
      product.mutable_product()->set_unit("pcs");
      v1::LineCycleTime* c = product.mutable_product()->add_cycle_times();
      c->set_line_id("PACK-1");
      c->set_ideal_cycle_seconds(3);
      v1::CreateProductResponse out;
      ASSERT_TRUE(stub_->CreateProduct(Ctx().get(), product, &out).ok());
    }
  }

  // A packaging line of PLANT-1 on `pattern` (3X8 by default), 1,200 an hour.
  void AddPackagingLine(const std::string& id, const std::string& pattern = "3X8") {
    v1::CreateLineRequest line;
    line.mutable_line()->set_id(id);
    line.mutable_line()->set_display_name("Packaging line " + id);
    line.mutable_line()->set_site("PLANT-1");
    line.mutable_line()->set_area("PACKAGING");
    line.mutable_line()->set_nominal_rate_per_hour(1200);
    line.mutable_line()->set_shift_pattern_id(pattern);
    v1::CreateLineResponse line_out;
    ASSERT_TRUE(stub_->CreateLine(Ctx().get(), line, &line_out).ok());
  }

  // The server's send limit (max-send-message-bytes), changed while it serves.
  void SetMaxSendBytes(int bytes) {
    runtime::testing::ChangeWhileServing(executor_,
                                         [&] { server_config_.max_send_message_bytes = bytes; });
  }

  const absl::Time now_;
  const absl::Duration deadline_;
  std::string time_zone_ = "Europe/Berlin";  // the plant's; a test may set another first
  runtime::ServerConfig server_config_;
  PlanningConfig config_;
  runtime::testing::FixedIdentityPolicy policy_{"spiffe://test/user/planner"};
  runtime::Executor executor_{runtime::ExecutorOptions{4, 64, "test"}};
  runtime::ServiceDeps deps_;
  FakePlanningStore store_;
  std::unique_ptr<PlanningServiceImpl> service_;
  std::unique_ptr<runtime::testing::InProcessServer> server_;
  std::unique_ptr<v1::PlanningService::Stub> stub_;
};

}  // namespace plantmesh::planning::testing
