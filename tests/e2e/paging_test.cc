// Paging through 1,000 defects created concurrently: every defect exactly once, in
// the requested order, whatever the page size.
#include <set>
#include <thread>

#include "google/protobuf/util/time_util.h"
#include "gtest/gtest.h"
#include "tests/e2e/shared_mesh_test.h"

namespace plantmesh::e2e {
namespace {

using google::protobuf::util::TimeUtil;

constexpr int kDefects = 1000;
constexpr int kWriters = 4;

class PagingTest : public SharedMeshTest {
 protected:
  static void SetUpTestSuite() {
    StartSharedMesh(/*seed_reference_data=*/true);
    if (HasFatalFailure()) return;

    std::vector<std::thread> writers;
    std::vector<absl::Status> failures(kWriters);
    ids_ = new std::set<std::string>();
    std::vector<std::vector<std::string>> ids(kWriters);
    for (int w = 0; w < kWriters; ++w) {
      writers.emplace_back([w, &failures, &ids] {
        sdk::DefectClient client = mesh_->Defects("otto");
        for (int i = w; i < kDefects; i += kWriters) {
          defect::v1::CreateDefectRequest request;
          *request.mutable_defect() = SampleDefect(absl::StrCat("VIN-PAGE-", i));
          auto created = client.CreateDefect(request);
          if (!created.ok()) {
            failures[w] = created.status();
            return;
          }
          ids[w].push_back(created->defect().id());
        }
      });
    }
    for (std::thread& t : writers) t.join();
    for (const absl::Status& failure : failures) ASSERT_TRUE(failure.ok()) << Describe(failure);
    for (const auto& list : ids) ids_->insert(list.begin(), list.end());
    ASSERT_EQ(ids_->size(), static_cast<size_t>(kDefects));
  }
  static void TearDownTestSuite() {
    delete ids_;
    SharedMeshTest::TearDownTestSuite();
  }

  static std::set<std::string>* ids_;
};
std::set<std::string>* PagingTest::ids_ = nullptr;

int64_t Id(const defect::v1::Defect& d) { return std::stoll(d.id()); }

void ExpectEachOnceInOrder(const std::vector<defect::v1::Defect>& listed,
                           const std::set<std::string>& expected, bool descending,
                           bool by_update_time) {
  std::set<std::string> seen;
  for (const defect::v1::Defect& d : listed) {
    EXPECT_TRUE(seen.insert(d.id()).second) << "defect " << d.id() << " listed twice";
  }
  EXPECT_EQ(seen, expected);
  for (size_t i = 1; i < listed.size(); ++i) {
    const auto& a = listed[i - 1];
    const auto& b = listed[i];
    auto ta = by_update_time ? a.update_time() : a.create_time();
    auto tb = by_update_time ? b.update_time() : b.create_time();
    bool ordered = descending ? (ta > tb || (ta == tb && Id(a) > Id(b)))
                              : (ta < tb || (ta == tb && Id(a) < Id(b)));
    ASSERT_TRUE(ordered) << "out of order at " << i << ": " << a.id() << " ("
                         << TimeUtil::ToString(ta) << ") then " << b.id() << " ("
                         << TimeUtil::ToString(tb) << ")";
  }
}

TEST_F(PagingTest, ListAllReturnsEachDefectOnceNewestFirst) {
  defect::v1::ListDefectsRequest request;
  request.set_page_size(37);
  auto listed = mesh_->Defects("manager").ListAllDefects(request);
  ASSERT_TRUE(listed.ok()) << Describe(listed.status());
  ASSERT_EQ(listed->size(), static_cast<size_t>(kDefects));
  ExpectEachOnceInOrder(*listed, *ids_, /*descending=*/true, /*by_update_time=*/false);
}

TEST_F(PagingTest, OldestFirstWithTheLargestPages) {
  defect::v1::ListDefectsRequest request;
  request.set_page_size(1000);
  request.set_order_by("create_time");
  auto listed = mesh_->Defects("integrator").ListAllDefects(request);
  ASSERT_TRUE(listed.ok()) << Describe(listed.status());
  ExpectEachOnceInOrder(*listed, *ids_, /*descending=*/false, /*by_update_time=*/false);
}

TEST_F(PagingTest, PagesHoldAtMostPageSizeAndTheLastHasNoToken) {
  defect::v1::ListDefectsRequest request;
  request.set_page_size(300);
  request.set_order_by("update_time desc");
  sdk::DefectClient client = mesh_->Defects("otto");
  std::vector<defect::v1::Defect> all;
  int pages = 0;
  while (true) {
    auto page = client.ListDefects(request);
    ASSERT_TRUE(page.ok()) << Describe(page.status());
    ++pages;
    EXPECT_LE(page->defects_size(), 300);
    all.insert(all.end(), page->defects().begin(), page->defects().end());
    if (page->next_page_token().empty()) break;
    request.set_page_token(page->next_page_token());
    ASSERT_LT(pages, 10) << "paging does not end";
  }
  EXPECT_EQ(pages, 4);
  ExpectEachOnceInOrder(all, *ids_, /*descending=*/true, /*by_update_time=*/true);
}

TEST_F(PagingTest, ForEachStopsWhenAsked) {
  int visited = 0;
  defect::v1::ListDefectsRequest request;
  request.set_page_size(10);
  absl::Status status = mesh_->Defects("otto").ForEachDefect(
      request, [&visited](const defect::v1::Defect&) { return ++visited < 25; });
  EXPECT_TRUE(status.ok()) << Describe(status);
  EXPECT_EQ(visited, 25);
}

}  // namespace
}  // namespace plantmesh::e2e
