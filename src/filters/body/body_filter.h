// request_body and response_body: whole-body transformations. The message is buffered up to
// `max_bytes` (a request over it gets 413, a response 502), transformed, and re-framed with a
// Content-Length. JSON edits take JSON Pointers (set, remove, rename); `convert` turns a JSON
// body into XML or an XML body into JSON (the mapping: docs/transform.md) and sets the
// Content-Type it produced. Malformed input in a request: 400 with a JSON error naming the
// problem; in a response: 502 (the problem goes to the access log). Bodies whose Content-Type
// does not fit the transformation pass untouched.
// Example:
//   request_body:  { json: { set: { /meta/source: gateway }, remove: [/password] }, max_bytes: 1MiB
//   } response_body: { convert: xml_to_json }
#pragma once

#include "filter/chain.h"

namespace sluice::filters {

extern const filter::Factory kRequestBodyFactory;
extern const filter::Factory kResponseBodyFactory;

}  // namespace sluice::filters
