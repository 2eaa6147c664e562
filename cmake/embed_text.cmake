# Writes OUTPUT, a C++ source defining `std::span<const EmbeddedFile> NAMESPACE::FUNCTION()`
# (declared in HEADER, with `struct EmbeddedFile {std::string_view name, text;}`): every file of
# FILES (names relative to BASE, separated by ':'), sorted by name, with its bytes as they are.
# The bytes are written as arrays of numbers, so no text in a file can end a string literal
# early (no raw-string delimiter to pick). Run at build time by the custom command of
# CMakeLists.txt:
#   cmake -DBASE=api -DFILES=openapi.yaml:paths/config.yaml -DOUTPUT=gen/openapi_files.cc \
#         -DHEADER=api/openapi.h -DNAMESPACE=sluice::api -DFUNCTION=openapi_files \
#         -P cmake/embed_text.cmake
foreach(var BASE FILES OUTPUT HEADER NAMESPACE FUNCTION)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "embed_text.cmake: -D${var}=… is required")
  endif()
endforeach()

string(REPLACE ":" ";" names "${FILES}")
list(SORT names)
set(arrays "")
set(entries "")
set(i 0)
foreach(name IN LISTS names)
  if(name MATCHES "[\"\\\\\n]")
    message(FATAL_ERROR "embed_text.cmake: ${name}: a name with a quote, backslash or newline")
  endif()
  file(READ "${BASE}/${name}" hex HEX)
  string(LENGTH "${hex}" hex_length)
  math(EXPR size "${hex_length} / 2")
  # "0xNN," per byte, 8 bytes a line; a final 0 keeps the array non-empty (it is not returned).
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
  string(REGEX REPLACE "((0x[0-9a-f][0-9a-f],)(0x[0-9a-f][0-9a-f],)(0x[0-9a-f][0-9a-f],)(0x[0-9a-f][0-9a-f],)(0x[0-9a-f][0-9a-f],)(0x[0-9a-f][0-9a-f],)(0x[0-9a-f][0-9a-f],)(0x[0-9a-f][0-9a-f],))" "\\1\n    " bytes "${bytes}")
  string(APPEND arrays "// ${name}
constexpr unsigned char kFile${i}[] = {
    ${bytes}0x00};

")
  string(APPEND entries "      {\"${name}\", {reinterpret_cast<const char*>(kFile${i}), ${size}}},\n")
  math(EXPR i "${i} + 1")
endforeach()
if(i EQUAL 0)
  message(FATAL_ERROR "embed_text.cmake: FILES names no file")
endif()

set(text "// Generated from ${i} files of ${BASE} by cmake/embed_text.cmake at build time: do not edit.
#include \"${HEADER}\"

namespace ${NAMESPACE} {
namespace {

${arrays}}  // namespace

std::span<const EmbeddedFile> ${FUNCTION}() {
  static const EmbeddedFile kFiles[] = {
${entries}  };
  return kFiles;
}

}  // namespace ${NAMESPACE}
")
# Written only when it changed, so an unchanged input recompiles nothing.
file(WRITE "${OUTPUT}.tmp" "${text}")
file(COPY_FILE "${OUTPUT}.tmp" "${OUTPUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUTPUT}.tmp")
