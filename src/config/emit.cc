// See emit.h.
#include "config/emit.h"

#include <yaml.h>

#include <cstddef>
#include <functional>
#include <stdexcept>
#include <string>
#include <unordered_map>

namespace sluice::config {
namespace {

struct IdHash {
  size_t operator()(const NodeId& id) const noexcept {
    return std::hash<const void*>()(id.doc) ^ (std::hash<uint32_t>()(id.index) * 31);
  }
};

bool is_plain_null(std::string_view s) {
  return s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL";
}

yaml_char_t* chars(const std::string& s) {
  return reinterpret_cast<yaml_char_t*>(const_cast<char*>(s.c_str()));
}

class Emitter {
 public:
  explicit Emitter(std::string& out) : out_(out) {
    if (yaml_emitter_initialize(&e_) == 0) throw std::runtime_error("YAML emitter: out of memory");
    yaml_emitter_set_output(&e_, &Emitter::write, &out_);
    yaml_emitter_set_unicode(&e_, 1);
    yaml_emitter_set_width(&e_, -1);  // no folding of long lines
    yaml_emitter_set_indent(&e_, 2);
  }
  ~Emitter() { yaml_emitter_delete(&e_); }
  Emitter(const Emitter&) = delete;
  Emitter& operator=(const Emitter&) = delete;

  void run(const Node& root) {
    count(root);
    yaml_event_t ev;
    yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING);
    emit(ev);
    yaml_document_start_event_initialize(&ev, nullptr, nullptr, nullptr, 1);
    emit(ev);
    node(root);
    yaml_document_end_event_initialize(&ev, 1);
    emit(ev);
    yaml_stream_end_event_initialize(&ev);
    emit(ev);
    if (yaml_emitter_flush(&e_) == 0) fail();
  }

 private:
  static int write(void* data, unsigned char* buffer, size_t size) {
    static_cast<std::string*>(data)->append(reinterpret_cast<const char*>(buffer), size);
    return 1;
  }

  [[noreturn]] void fail() {
    throw std::runtime_error(std::string("YAML emitter: ") +
                             (e_.problem != nullptr ? e_.problem : "error"));
  }

  void emit(yaml_event_t& ev) {
    if (yaml_emitter_emit(&e_, &ev) == 0) fail();  // the emitter deletes the event either way
  }

  // How many times each container is reached; a shared one is written once (anchor, aliases).
  void count(const Node& n) {
    if (!n.is_map() && !n.is_sequence()) return;
    if (++refs_[n.id()] > 1) return;
    for (size_t i = 0; i < n.size(); ++i) {
      if (n.is_map()) {
        count(n.key(i));
        count(n.value(i));
      } else {
        count(n.at(i));
      }
    }
  }

  void scalar(const Node& n) {
    yaml_event_t ev;
    std::string text(n.scalar());
    yaml_scalar_style_t style = YAML_PLAIN_SCALAR_STYLE;
    if (!n.is_scalar()) {
      text = "null";  // a null (or undefined) node
    } else if (n.quoted() || is_plain_null(text)) {
      style = YAML_SINGLE_QUOTED_SCALAR_STYLE;  // double-quoted when single quotes cannot hold it
    }
    if (yaml_scalar_event_initialize(&ev, nullptr, nullptr, chars(text),
                                     static_cast<int>(text.size()), 1, 1, style) == 0) {
      fail();
    }
    emit(ev);
  }

  void node(const Node& n) {
    if (!n.is_map() && !n.is_sequence()) {
      scalar(n);
      return;
    }
    yaml_event_t ev;
    std::string anchor;
    if (refs_[n.id()] > 1) {
      auto [it, fresh] = anchors_.try_emplace(n.id(), "");
      if (!fresh) {
        if (yaml_alias_event_initialize(&ev, chars(it->second)) == 0) fail();
        emit(ev);
        return;
      }
      it->second = "a" + std::to_string(anchors_.size());
      anchor = it->second;
    }
    yaml_char_t* a = anchor.empty() ? nullptr : chars(anchor);
    if (n.is_map()) {
      if (yaml_mapping_start_event_initialize(&ev, a, nullptr, 1, YAML_BLOCK_MAPPING_STYLE) == 0) {
        fail();
      }
      emit(ev);
      for (size_t i = 0; i < n.size(); ++i) {
        node(n.key(i));
        node(n.value(i));
      }
      yaml_mapping_end_event_initialize(&ev);
    } else {
      if (yaml_sequence_start_event_initialize(&ev, a, nullptr, 1, YAML_BLOCK_SEQUENCE_STYLE) ==
          0) {
        fail();
      }
      emit(ev);
      for (size_t i = 0; i < n.size(); ++i) node(n.at(i));
      yaml_sequence_end_event_initialize(&ev);
    }
    emit(ev);
  }

  std::string& out_;
  yaml_emitter_t e_{};
  std::unordered_map<NodeId, int, IdHash> refs_;
  std::unordered_map<NodeId, std::string, IdHash> anchors_;
};

}  // namespace

std::string to_yaml(const Node& root, std::string_view header) {
  std::string out(header);
  Emitter(out).run(root);
  return out;
}

}  // namespace sluice::config
