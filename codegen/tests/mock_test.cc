// The generated seam without a server: EchoClient over the generated gMock
// MockEchoConnection (every method kind of the test contract), and over a connection
// subclass that overrides nothing (UNIMPLEMENTED, never a crash).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "plantmesh/codegentest/v1/echo_service.pm_client.h"
#include "plantmesh/codegentest/v1/echo_service.pm_mock.h"
#include "plantmesh/sdk/mocks/mock_streams.h"

namespace plantmesh::codegentest::v1 {
namespace {

using ::plantmesh::sdk::CallOptions;
using ::plantmesh::sdk::EchoClient;
using ::plantmesh::sdk::mocks::MakeReadStream;
using ::plantmesh::sdk::mocks::MockEchoConnection;
using ::plantmesh::sdk::mocks::MockReadWriteStream;
using ::plantmesh::sdk::mocks::MockWriteStream;
using ::testing::_;
using ::testing::ByMove;
using ::testing::ElementsAre;
using ::testing::Field;
using ::testing::HasSubstr;
using ::testing::InSequence;
using ::testing::Property;
using ::testing::Return;

ListThingsResponse Page(std::vector<std::string> names, std::string next) {
  ListThingsResponse page;
  for (const std::string& name : names) page.add_things()->set_name(name);
  page.set_next_page_token(std::move(next));
  return page;
}

TEST(GeneratedMock, UnaryCallSeesTheRequestAsGivenWithItsCallOptions) {
  auto mock = std::make_shared<MockEchoConnection>();
  FireResponse answer;
  answer.mutable_target()->set_name("t1");
  EXPECT_CALL(
      *mock,
      Fire(Property(&FireRequest::request_id, ""),
           Field(&CallOptions::metadata,
                 ElementsAre(std::make_pair(std::string("x-request-id"), std::string("r-1"))))))
      .WillOnce(Return(answer));
  EchoClient client(mock);
  CallOptions call;
  call.metadata.emplace_back("x-request-id", "r-1");
  absl::StatusOr<FireResponse> fired = client.Fire(FireRequest(), call);
  ASSERT_TRUE(fired.ok()) << fired.status();
  EXPECT_EQ(fired->target().name(), "t1");
}

TEST(GeneratedMock, ListAllFollowsThePageTokensTheMockReturns) {
  auto mock = std::make_shared<MockEchoConnection>();
  {
    InSequence pages;
    EXPECT_CALL(*mock, ListThings(Property(&ListThingsRequest::page_token, ""), _))
        .WillOnce(Return(Page({"a", "b"}, "p2")));
    EXPECT_CALL(*mock, ListThings(Property(&ListThingsRequest::page_token, "p2"), _))
        .WillOnce(Return(Page({"c"}, "")));
  }
  EchoClient client(mock);
  absl::StatusOr<std::vector<Thing>> all = client.ListAllThings({});
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[2].name(), "c");
}

TEST(GeneratedMock, AnErrorOnALaterPageEndsListAllWithIt) {
  auto mock = std::make_shared<MockEchoConnection>();
  EXPECT_CALL(*mock, ListThings)
      .WillOnce(Return(Page({"a"}, "p2")))
      .WillOnce(Return(absl::UnavailableError("server draining")));
  EchoClient client(mock);
  EXPECT_EQ(client.ListAllThings({}).status().code(), absl::StatusCode::kUnavailable);
}

TEST(GeneratedMock, ServerStreamFromACannedStream) {
  auto mock = std::make_shared<MockEchoConnection>();
  CountResponse one;
  one.set_number(1);
  CountResponse two;
  two.set_number(2);
  EXPECT_CALL(*mock, Count(Property(&CountRequest::count, 2), _))
      .WillOnce(Return(ByMove(MakeReadStream<CountResponse>({one, two}))));
  EchoClient client(mock);
  CountRequest request;
  request.set_count(2);
  auto stream = client.Count(request);
  std::vector<int> numbers;
  CountResponse response;
  while (stream->Next(&response)) numbers.push_back(response.number());
  EXPECT_TRUE(stream->Finish().ok());
  EXPECT_THAT(numbers, ElementsAre(1, 2));
}

TEST(GeneratedMock, ClientAndBidiStreamsFromMockStreams) {
  auto mock = std::make_shared<MockEchoConnection>();
  auto sum = std::make_unique<MockWriteStream<SumRequest, SumResponse>>();
  EXPECT_CALL(*sum, Write(Property(&SumRequest::value, 5))).WillOnce(Return(true));
  SumResponse total;
  total.set_total(5);
  EXPECT_CALL(*sum, Finish()).WillOnce(Return(total));
  EXPECT_CALL(*mock, Sum).WillOnce(Return(ByMove(std::move(sum))));

  auto chat = std::make_unique<MockReadWriteStream<ChatMessage, ChatMessage>>();
  EXPECT_CALL(*chat, Write(Property(&ChatMessage::text, "hi"))).WillOnce(Return(false));
  EXPECT_CALL(*chat, Finish()).WillOnce(Return(absl::PermissionDeniedError("no")));
  EXPECT_CALL(*mock, Chat).WillOnce(Return(ByMove(std::move(chat))));

  EchoClient client(mock);
  auto writer = client.Sum();
  SumRequest value;
  value.set_value(5);
  EXPECT_TRUE(writer->Write(value));
  absl::StatusOr<SumResponse> summed = writer->Finish();
  ASSERT_TRUE(summed.ok());
  EXPECT_EQ(summed->total(), 5);

  auto talk = client.Chat();
  ChatMessage hi;
  hi.set_text("hi");
  EXPECT_FALSE(talk->Write(hi));
  EXPECT_EQ(talk->Finish().code(), absl::StatusCode::kPermissionDenied);
}

// A hand-written fake that overrides only what it needs: everything else is
// UNIMPLEMENTED, for unary calls and streams alike.
class OnlyFire final : public sdk::EchoConnection {
 public:
  absl::StatusOr<FireResponse> Fire(const FireRequest&, const CallOptions&) override {
    return FireResponse();
  }
};

TEST(GeneratedConnection, MethodsNotOverriddenAreUnimplemented) {
  EchoClient client(std::make_shared<OnlyFire>());
  EXPECT_TRUE(client.Fire({}).ok());
  const absl::Status listed = client.ListAllThings({}).status();
  EXPECT_EQ(listed.code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(std::string(listed.message()), HasSubstr("EchoConnection::ListThings"));
  auto count = client.Count({});
  CountResponse response;
  EXPECT_FALSE(count->Next(&response));
  EXPECT_EQ(count->Finish().code(), absl::StatusCode::kUnimplemented);
  EXPECT_FALSE(client.Sum()->Write(SumRequest()));
  EXPECT_EQ(client.Sum()->Finish().status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_EQ(client.Chat()->Finish().code(), absl::StatusCode::kUnimplemented);
}

}  // namespace
}  // namespace plantmesh::codegentest::v1
