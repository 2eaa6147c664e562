# Writes OUTPUT, a C++ source defining `std::string_view NAMESPACE::FUNCTION()`, which returns
# the bytes of INPUT as they are (declared in HEADER). The bytes are written as an array of
# numbers, so no text in INPUT can end a string literal early (no raw-string delimiter to pick).
# Run at build time by the custom command of CMakeLists.txt:
#   cmake -DINPUT=api/openapi.yaml -DOUTPUT=gen/openapi_text.cc -DHEADER=api/openapi.h \
#         -DNAMESPACE=sluice::api -DFUNCTION=openapi_yaml -P cmake/embed_text.cmake
foreach(var INPUT OUTPUT HEADER NAMESPACE FUNCTION)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "embed_text.cmake: -D${var}=… is required")
  endif()
endforeach()

file(READ "${INPUT}" hex HEX)
string(LENGTH "${hex}" hex_length)
math(EXPR size "${hex_length} / 2")
# "0xNN," per byte, 8 bytes a line; a final 0 keeps the array non-empty (it is not returned).
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
string(REGEX REPLACE "((0x[0-9a-f][0-9a-f],)(0x[0-9a-f][0-9a-f],)(0x[0-9a-f][0-9a-f],)(0x[0-9a-f][0-9a-f],)(0x[0-9a-f][0-9a-f],)(0x[0-9a-f][0-9a-f],)(0x[0-9a-f][0-9a-f],)(0x[0-9a-f][0-9a-f],))" "\\1\n    " bytes "${bytes}")
get_filename_component(input_name "${INPUT}" NAME)

set(text "// Generated from ${input_name} by cmake/embed_text.cmake at build time: do not edit.
#include \"${HEADER}\"

namespace ${NAMESPACE} {
namespace {

constexpr unsigned char kBytes[] = {
    ${bytes}0x00};

}  // namespace

std::string_view ${FUNCTION}() {
  return {reinterpret_cast<const char*>(kBytes), ${size}};
}

}  // namespace ${NAMESPACE}
")
# Written only when it changed, so an unchanged input recompiles nothing.
file(WRITE "${OUTPUT}.tmp" "${text}")
file(COPY_FILE "${OUTPUT}.tmp" "${OUTPUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUTPUT}.tmp")
