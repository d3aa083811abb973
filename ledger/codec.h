// The JSON form of the ledger's Cap'n Proto structs, derived from the schema by reflection.
//
// The mapping is one-to-one (see the header of ledger/schema/event.capnp for the rules), and
// strict: unknown fields, missing required fields, duplicate keys, wrong JSON types, numbers out
// of the field's range, fractions, unknown enumerants and unknown event types are all rejected
// with InvalidArgument naming the field path ("payee.name"). capnp's own JSON codec is not used
// because it writes 64-bit integers as strings and ignores unknown fields.
//
// Thread safety: pure functions.
#pragma once

#include <capnp/dynamic.h>

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "crypto/status.h"

namespace fundledger {

inline constexpr size_t kJsonDocumentBytesMax = 8 << 20;  // one submission of many events
inline constexpr size_t kJsonDepthMax = 16;
inline constexpr size_t kJsonListItemsMax = 10000;
inline constexpr size_t kJsonTextBytesMax = 64 << 10;

// Parses JSON text, rejecting duplicate object keys, nesting deeper than kJsonDepthMax and
// documents over kJsonDocumentBytesMax. InvalidArgument "json_malformed" on failure.
Status ParseJson(std::string_view text, nlohmann::json* out);

// Fills `out` (a freshly initialised struct) from `in`. Error codes: "json_unknown_field",
// "json_missing_field", "json_field_type", "json_out_of_range", "unknown_type",
// "unknown_enum_value", "bad_base64".
Status JsonToStruct(const nlohmann::json& in, capnp::DynamicStruct::Builder out);

// Renders `in` as JSON. Fails (InvalidArgument) only on data the JSON form cannot express:
// an unknown union member or enumerant, a missing required field, invalid UTF-8 in a Text.
Status StructToJson(capnp::DynamicStruct::Reader in, nlohmann::json* out);

// snake_case of a camelCase schema name: "floorAreaM2" -> "floor_area_m2".
std::string SnakeCase(std::string_view camel);

}  // namespace fundledger
