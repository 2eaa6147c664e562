// respond: the route answers from config (status, headers as given, body) and nothing goes
// upstream; no content-type is added that the config did not give.
#include "filters/respond/respond_filter.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "../../fake_services.h"
#include "config/config.h"
#include "filter/context.h"

namespace sluice::filters {
namespace {

using filter::Phase;
using filter::Status;
using testing::FakeServices;
using testing::FilterRequest;

TEST(RespondFilter, StatusHeadersAndBody) {
  config::RespondConfig rc;
  rc.status = 200;
  rc.body = R"({"status":"ok"})";
  rc.headers = {{"content-type", "application/json"}, {"x-served-by", "sluice"}};
  std::unique_ptr<filter::Filter> f = make_respond_filter(rc);
  rc.body = "changed";  // the filter keeps its own copy
  EXPECT_EQ(f->phases(), filter::phase_bit(Phase::kRequestHeaders));
  EXPECT_EQ(f->request_body_limit(), 0u);

  FakeServices svc;
  FilterRequest req;
  req.begin("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", &svc, f->state_size());
  ASSERT_EQ(f->on_request_headers(req.ctx), Status::kRespond);
  EXPECT_EQ(req.ctx.answer_status(), 200);
  EXPECT_EQ(req.ctx.answer_body(), R"({"status":"ok"})");
  EXPECT_EQ(req.ctx.answer_lines(), "content-type: application/json\r\nx-served-by: sluice\r\n");
  EXPECT_EQ(req.ctx.answer_reason(), nullptr);  // an answer, not a refusal
  EXPECT_EQ(req.ctx.refusal(), filter::Refusal::kNone);
  EXPECT_EQ(req.ctx.upstream_lines(), "");

  // The same answer for the next request (nothing carried over).
  req.begin("POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi", &svc,
            f->state_size());
  ASSERT_EQ(f->on_request_headers(req.ctx), Status::kRespond);
  EXPECT_EQ(req.ctx.answer_status(), 200);
  EXPECT_EQ(req.ctx.answer_lines(), "content-type: application/json\r\nx-served-by: sluice\r\n");
}

TEST(RespondFilter, NoContent) {
  config::RespondConfig rc;
  rc.status = 204;
  std::unique_ptr<filter::Filter> f = make_respond_filter(rc);
  FilterRequest req;
  req.begin("DELETE /items/1 HTTP/1.1\r\nHost: x\r\n\r\n", nullptr, f->state_size());
  ASSERT_EQ(f->on_request_headers(req.ctx), Status::kRespond);
  EXPECT_EQ(req.ctx.answer_status(), 204);
  EXPECT_EQ(req.ctx.answer_body(), "");
  EXPECT_EQ(req.ctx.answer_lines(), "");  // no content-type for no content
}

TEST(RespondFilter, HeaderValuesCannotAddHeaders) {
  config::RespondConfig rc;
  rc.status = 302;
  rc.headers = {{"location", "/new\r\nx-evil: 1"}};
  std::unique_ptr<filter::Filter> f = make_respond_filter(rc);
  FilterRequest req;
  req.begin("GET /old HTTP/1.1\r\nHost: x\r\n\r\n", nullptr, f->state_size());
  ASSERT_EQ(f->on_request_headers(req.ctx), Status::kRespond);
  EXPECT_EQ(req.ctx.answer_status(), 302);
  EXPECT_EQ(req.ctx.answer_lines(), "location: /newx-evil: 1\r\n");
}

}  // namespace
}  // namespace sluice::filters
