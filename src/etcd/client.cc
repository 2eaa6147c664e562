#include "etcd/client.h"

#include <openssl/evp.h>

#include <charconv>
#include <nlohmann/json.hpp>
#include <utility>

namespace sluice::etcd {
namespace {

using json = nlohmann::json;

// etcd's JSON gateway writes 64-bit integers as strings ("revision":"12").
int64_t as_int(const json& v) {
  if (v.is_number_integer()) return v.get<int64_t>();
  if (!v.is_string()) return 0;
  const std::string& s = v.get_ref<const std::string&>();
  int64_t out = 0;
  std::from_chars(s.data(), s.data() + s.size(), out);
  return out;
}

std::optional<KeyValue> key_value(const json& kv) {
  KeyValue out;
  std::optional<std::string> key = base64_decode(kv.value("key", ""));
  std::optional<std::string> value = base64_decode(kv.value("value", ""));
  if (!key || !value) return std::nullopt;
  out.key = std::move(*key);
  out.value = std::move(*value);
  if (auto it = kv.find("mod_revision"); it != kv.end()) out.mod_revision = as_int(*it);
  return out;
}

std::optional<json> parse(const std::string& text, std::string* error) {
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    *error = "etcd answered something that is not a JSON object";
    return std::nullopt;
  }
  return j;
}

}  // namespace

std::string prefix_end(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty()) {
    auto& last = reinterpret_cast<unsigned char&>(end.back());
    if (last < 0xff) {
      ++last;
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');  // every key
}

std::string base64_encode(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3), '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()),
                                static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  std::string out(3 * (text.size() / 4), '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(text.data()),
                                static_cast<int>(text.size()));
  if (n < 0) return std::nullopt;
  size_t len = static_cast<size_t>(n);
  // EVP_DecodeBlock counts the padding's zero bytes.
  if (!text.empty() && text.back() == '=') --len;
  if (text.size() > 1 && text[text.size() - 2] == '=') --len;
  out.resize(len);
  return out;
}

EtcdClient::EtcdClient(std::vector<Endpoint> endpoints, uint64_t timeout_ms)
    : endpoints_(std::move(endpoints)), timeout_ms_(timeout_ms) {
  if (endpoints_.empty()) endpoints_.push_back(Endpoint{"127.0.0.1", 2379});
}

std::optional<std::string> EtcdClient::post(const std::string& path, const std::string& body,
                                            std::string* error) {
  std::string errors;
  for (size_t tried = 0; tried < endpoints_.size(); ++tried) {
    const Endpoint& e = endpoints_[current_];
    net::HttpCall call;
    call.host = e.host;
    call.port = e.port;
    call.method = "POST";
    call.path = path;
    call.body = body;
    call.timeout_ms = timeout_ms_;
    net::HttpResult r = http_.call(call);
    if (r.ok && r.status == 200) return std::move(r.body);
    const std::string why =
        r.ok ? "answered " + std::to_string(r.status) + ": " + r.body.substr(0, 200) : r.error;
    errors += (errors.empty() ? "" : "; ") + e.host + ":" + std::to_string(e.port) + ": " + why;
    if (r.ok && r.status >= 400 && r.status < 500) break;  // the request is wrong, not the node
    current_ = (current_ + 1) % endpoints_.size();
  }
  *error = errors;
  return std::nullopt;
}

std::optional<RangeResult> EtcdClient::range_prefix(const std::string& prefix, std::string* error) {
  const json req = {{"key", base64_encode(prefix)},
                    {"range_end", base64_encode(prefix_end(prefix))}};
  std::optional<std::string> body = post("/v3/kv/range", req.dump(), error);
  if (!body) return std::nullopt;
  std::optional<json> j = parse(*body, error);
  if (!j) return std::nullopt;
  RangeResult out;
  if (auto h = j->find("header"); h != j->end() && h->is_object()) {
    out.revision = as_int(h->value("revision", json()));
  }
  if (auto kvs = j->find("kvs"); kvs != j->end() && kvs->is_array()) {
    for (const json& kv : *kvs) {
      std::optional<KeyValue> one = key_value(kv);
      if (!one) {
        *error = "etcd sent a key or value that is not base64";
        return std::nullopt;
      }
      out.kvs.push_back(std::move(*one));
    }
  }
  return out;
}

std::optional<int64_t> EtcdClient::put(const std::string& key, const std::string& value,
                                       std::string* error) {
  const json req = {{"key", base64_encode(key)}, {"value", base64_encode(value)}};
  std::optional<std::string> body = post("/v3/kv/put", req.dump(), error);
  if (!body) return std::nullopt;
  std::optional<json> j = parse(*body, error);
  if (!j) return std::nullopt;
  return as_int(j->value("header", json::object()).value("revision", json()));
}

std::optional<int64_t> EtcdClient::remove(const std::string& key, std::string* error) {
  const json req = {{"key", base64_encode(key)}};
  std::optional<std::string> body = post("/v3/kv/deleterange", req.dump(), error);
  if (!body) return std::nullopt;
  std::optional<json> j = parse(*body, error);
  if (!j) return std::nullopt;
  return as_int(j->value("header", json::object()).value("revision", json()));
}

bool EtcdClient::watch(const std::string& prefix, int64_t from_revision, const OnEvents& on_events,
                       std::string* error, bool* compacted) {
  *compacted = false;
  const Endpoint& e = endpoints_[current_];
  const json req = {{"create_request",
                     {{"key", base64_encode(prefix)},
                      {"range_end", base64_encode(prefix_end(prefix))},
                      {"start_revision", std::to_string(from_revision)}}}};
  net::HttpCall call;
  call.host = e.host;
  call.port = e.port;
  call.method = "POST";
  call.path = "/v3/watch";
  call.body = req.dump();
  call.timeout_ms = timeout_ms_;
  std::string pending;
  std::string failure;
  // One JSON message per line: {"result":{"header":…,"events":[…]}} (or "created",
  // "canceled" with "compact_revision").
  auto on_data = [&](std::string_view piece) {
    pending.append(piece);
    size_t nl;
    while ((nl = pending.find('\n')) != std::string::npos) {
      const std::string line = pending.substr(0, nl);
      pending.erase(0, nl + 1);
      if (line.empty()) continue;
      json j = json::parse(line, nullptr, false);
      if (j.is_discarded() || !j.is_object()) {
        failure = "etcd's watch sent a line that is not JSON";
        return false;
      }
      if (j.contains("error")) {
        failure = "watch: " + j["error"].dump();
        return false;
      }
      const json& result = j.contains("result") ? j["result"] : j;
      if (result.value("canceled", false)) {
        *compacted = as_int(result.value("compact_revision", json())) != 0;
        failure = "watch canceled: " + result.value("cancel_reason", std::string("by etcd"));
        return false;
      }
      std::vector<WatchEvent> events;
      if (auto evs = result.find("events"); evs != result.end() && evs->is_array()) {
        for (const json& ev : *evs) {
          WatchEvent w;
          w.deleted = ev.value("type", std::string("PUT")) == "DELETE";
          std::optional<KeyValue> kv = key_value(ev.value("kv", json::object()));
          if (!kv) {
            failure = "etcd sent a key or value that is not base64";
            return false;
          }
          w.kv = std::move(*kv);
          events.push_back(std::move(w));
        }
      }
      if (!events.empty()) {
        const int64_t rev =
            as_int(result.value("header", json::object()).value("revision", json()));
        on_events(rev, std::move(events));
      }
    }
    return pending.size() < (size_t{64} << 20);
  };
  net::HttpResult r = http_.stream(call, on_data, 0);
  if (!failure.empty()) {
    *error = failure;
  } else if (!r.ok) {
    *error = r.error;
  } else if (r.status != 200) {
    *error = "watch answered " + std::to_string(r.status);
  } else {
    *error = r.error.empty() ? "the watch stream ended" : r.error;
  }
  current_ = (current_ + 1) % endpoints_.size();  // the next try goes to the next endpoint
  return false;
}

}  // namespace sluice::etcd
