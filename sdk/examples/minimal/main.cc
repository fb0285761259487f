// minimal_report ENDPOINT CA_FILE CERT_FILE KEY_FILE: reports one defect over mTLS and
// prints its id, or what went wrong. On the local mesh (deploy/local/up):
//   minimal_report 127.0.0.1:17443 .plantmesh/pki/ca.crt .plantmesh/pki/anna.crt \
//     .plantmesh/pki/anna.key
#include <iostream>

#include "plantmesh/defect/v1/defect_service.pm_client.h"
#include "plantmesh/sdk/status.h"

int main(int argc, char** argv) {
  if (argc != 5) {
    std::cerr << "usage: minimal_report ENDPOINT CA_FILE CERT_FILE KEY_FILE\n";
    return 2;
  }
  plantmesh::sdk::ClientOptions options;
  options.endpoint = argv[1];  // the defect service's own port
  options.ca_file = argv[2];
  options.cert_file = argv[3];
  options.key_file = argv[4];
  // Checks the files first: a wrong path or a key that is not the certificate's is
  // INVALID_ARGUMENT naming the option and the file.
  absl::StatusOr<plantmesh::sdk::DefectClient> defects =
      plantmesh::sdk::DefectClient::Connect(options);
  if (!defects.ok()) {
    std::cerr << plantmesh::sdk::DescribeStatus(defects.status()) << "\n";
    return 1;
  }
  plantmesh::defect::v1::CreateDefectRequest request;  // request_id: filled by the SDK
  plantmesh::defect::v1::Defect& defect = *request.mutable_defect();
  defect.set_vin("WVWZZZ1JZXW000001");
  defect.set_model("SEDAN-2.0");
  defect.set_shift("2026-11-21/A");
  defect.set_zone("PAINT");
  defect.set_station("P-07");
  defect.set_category_code("PAINT-SCRATCH");  // a category that exists
  defect.set_description("Scratch on the left rear door, 5 cm");
  absl::StatusOr<plantmesh::defect::v1::CreateDefectResponse> created =
      defects->CreateDefect(request);
  if (!created.ok()) {  // the code, the message, and each field that was wrong
    std::cerr << plantmesh::sdk::DescribeStatus(created.status()) << "\n";
    return 1;
  }
  std::cout << "reported defect " << created->defect().id() << "\n";
  return 0;
}
