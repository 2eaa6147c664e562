// GET /api/v1/routes/explain?method=GET&path=/users/42&host=api.example.com&header=x-env:canary
// (header may repeat; values percent-encoded): which route the router picks for such a request
// and why, asked of the snapshot in force (the same router and path normalisation as the data
// path). The answer:
//   {"matched":true,"route":"user","status":"found","params":{"id":"42"},"allowed_methods":[],
//    "reason":"…","path":"/users/42",
//    "candidates":[{"route":…,"matched":bool,"reason":…},…],   every route whose path pattern
//                                                                matches, in config order
//    "shadows":[…],      routes that match this request too but rank below the chosen one
//    "shadowed_by":[…]}  routes that rank above the chosen one for this path and host and take
//                        the requests that also meet their method or header conditions
// Example: Response r = explain_response(*gateway.current(), "path=/users/42&method=GET");
#pragma once

#include <string_view>

#include "api/rest_api.h"
#include "proxy/snapshot.h"

namespace sluice::api {

Response explain_response(const proxy::Snapshot& snap, std::string_view query);

}  // namespace sluice::api
