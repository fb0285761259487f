// A test suite whose tests share one mesh (database, PKI, server), started once per suite.
#pragma once

#include <gtest/gtest.h>

#include <memory>

#include "tests/e2e/mesh.h"

namespace plantmesh::e2e {

class SharedMeshTest : public ::testing::Test {
 protected:
  // Suites with their own set-up call StartSharedMesh first (and return on a fatal failure).
  static void SetUpTestSuite() { StartSharedMesh(/*seed_reference_data=*/true); }
  static void TearDownTestSuite() {
    delete mesh_;
    mesh_ = nullptr;
  }

  static void StartSharedMesh(bool seed_reference_data) {
    absl::StatusOr<std::unique_ptr<Mesh>> mesh = Mesh::Start();
    ASSERT_TRUE(mesh.ok()) << mesh.status();
    mesh_ = mesh->release();
    if (seed_reference_data) {
      ASSERT_TRUE(mesh_->SeedReferenceData().ok());
    }
  }

  inline static Mesh* mesh_ = nullptr;
};

}  // namespace plantmesh::e2e
