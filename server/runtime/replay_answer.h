// How a handler answers an idempotent change from what its store returned
// (Replayable, idempotency.h): the first call's result, or a retry's recorded response
// byte for byte. Every service's handlers use these two, so a retry is answered the
// same way everywhere.
#pragma once

#include <google/protobuf/message.h>

#include <string>

#include "absl/status/status.h"
#include "server/runtime/idempotency.h"

namespace plantmesh::runtime {

// Fills `response` from `answer`: a retry's recorded response as it was (parsed into
// `response`); otherwise `fill(*answer.value)` writes the result. INTERNAL when the
// recorded bytes cannot be read or the store returned neither.
template <typename T, typename Fill>
absl::Status Answer(const Replayable<T>& answer, google::protobuf::Message* response, Fill fill) {
  if (answer.recorded_response) {
    response->Clear();
    if (!response->ParseFromString(*answer.recorded_response)) {
      return absl::InternalError("the recorded response of this request_id cannot be read");
    }
    return absl::OkStatus();
  }
  if (!answer.value) return absl::InternalError("the store returned no result");
  fill(*answer.value);
  return absl::OkStatus();
}

// The ResponseEncoder a store records with a change: the whole `Response`, filled from
// the change's result by `fill(value, &response)`, serialized.
template <typename Response, typename T, typename Fill>
ResponseEncoder<T> EncoderOf(Fill fill) {
  return [fill](const T& value) {
    Response response;
    fill(value, &response);
    return response.SerializeAsString();
  };
}

}  // namespace plantmesh::runtime
