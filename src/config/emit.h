// A document tree written back as YAML text (libyaml's emitter): what a config made of several
// files records as its version's text (config/sources.h), so the admin API, a rollback and a
// restart read one self-contained text. Parsing the text again gives the same tree: the same
// scalar texts, nulls stay null, quoted scalars stay quoted (a plain one whose text cannot be
// written plain is quoted), and a subtree shared by aliases is written once with an anchor, so
// the text is never larger than the tree.
// Example:
//   std::string text = to_yaml(root, "# merged from base.yaml, prod.yaml\n");
#pragma once

#include <string>
#include <string_view>

#include "config/document.h"

namespace sluice::config {

// `header` (comment lines, each starting with '#' and ending with '\n') comes first.
std::string to_yaml(const Node& root, std::string_view header = "");

}  // namespace sluice::config
