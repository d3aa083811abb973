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

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "crypto/status.h"

namespace fundledger {

inline constexpr size_t kJsonDocumentBytesMax = 8 << 20;  // one submission of many events
inline constexpr size_t kJsonDepthMax = 16;
inline constexpr size_t kJsonListItemsMax = 10000;
inline constexpr size_t kJsonTextBytesMax = 64 << 10;
// Values and keys in one item of a document that is an array, or in a document that is not:
// several times what the JSON form of any event or bundle line needs (the rules bound an event's
// lists to 100 items; a list the codec reads has at most kJsonListItemsMax), and few enough that
// its DOM (100-200 bytes a value) stays within a few MiB.
inline constexpr size_t kJsonItemValuesMax = 1 << 16;

// Parses JSON text, rejecting duplicate object keys, nesting deeper than kJsonDepthMax and
// documents over kJsonDocumentBytesMax: InvalidArgument "json_malformed". An item of a document
// that is an array, or a document that is not, with more than kJsonItemValuesMax values and keys:
// InvalidArgument "too_many_values", found while parsing.
Status ParseJson(std::string_view text, nlohmann::json* out);
// The same, and a document that is an array may hold at most `items_max` items: InvalidArgument
// "too_many_items" past it, found while parsing, before the rest is read.
Status ParseJson(std::string_view text, nlohmann::json* out, size_t items_max);
// Parses as ParseJson(text, out, items_max) does, but hands each item of a document that is an
// array to `on_item` as soon as it is parsed, and keeps none of them (a document that is not an
// array is handed over whole): one item's DOM at a time, however many the document holds. On
// failure, the items before the fault have been handed over.
Status ParseJsonEach(std::string_view text, size_t items_max,
                     const std::function<void(nlohmann::json&& item)>& on_item);

// Fills `out` (a freshly initialised struct) from `in`. Error codes: "json_unknown_field",
// "json_missing_field", "json_field_type", "json_out_of_range", "unknown_type",
// "unknown_enum_value", "bad_base64".
Status JsonToStruct(const nlohmann::json& in, capnp::DynamicStruct::Builder out);

// Renders `in` as JSON. Fails (InvalidArgument) only on data the JSON form cannot express:
// an unknown union member or enumerant, a missing required field, invalid UTF-8 in a Text.
Status StructToJson(capnp::DynamicStruct::Reader in, nlohmann::json* out);

// Copies into `out` exactly what the JSON form of `in` carries, as JsonToStruct(StructToJson(in))
// would build it, without building JSON: the fields the form names, optional pointers only when
// present, optional numbers by none or value, lists item by item. Fails where that round trip
// fails, with the same codes: "json_missing_field", "unknown_type", "unknown_enum_value",
// "json_field_type" (NUL or invalid UTF-8 in a Text, unknown optional-number member, nested list),
// "json_out_of_range" (Text over kJsonTextBytesMax, list over kJsonListItemsMax), "bad_base64"
// (Data over kJsonTextBytesMax) and "capnp_malformed" (unreadable input). Whatever `in` holds
// beyond its JSON form is left out, so comparing the canonical encodings of `in` and `out` tells
// whether the event has exactly one JSON form. Allocates only in `out`'s message.
// REQUIRES: `out` is freshly initialised and has `in`'s schema. The schema uses only the shapes
// the JSON form carries (no floats, Void, AnyPointer, plain groups or nested lists); any other
// is a programming error and throws std::logic_error on first use.
Status CopyJsonForm(capnp::DynamicStruct::Reader in, capnp::DynamicStruct::Builder out);

// What CheckJsonFormInPlace found beside the failures it returns.
enum class JsonFormVerdict {
  kExact,       // the copy's canonical encoding would be `in`'s
  kSecondForm,  // `in` holds something its JSON form does not express
  kUndecided,   // not decided here: copy (CopyJsonForm) and compare
};

// Decides as CopyJsonForm followed by a comparison of the canonical encodings of `in` and of the
// copy, without making the copy: the same failure first, else whether the encodings would
// differ. REQUIRES: `in` is read from a canonical message (capnp's isCanonical), whose layout
// then follows from its content; only the content is compared.
Status CheckJsonFormInPlace(capnp::DynamicStruct::Reader in, JsonFormVerdict* verdict);

// Well-formed UTF-8 (Unicode table 3-7): no overlong forms, surrogates, code points above
// U+10FFFF or truncated sequences. Exactly the texts the JSON writer accepts.
bool IsValidUtf8(std::string_view text);
// `text` with every byte that is not part of well-formed UTF-8 replaced by U+FFFD: for quoting
// untrusted bytes in messages that are rendered as JSON.
std::string ToValidUtf8(std::string_view text);

// snake_case of a camelCase schema name: "floorAreaM2" -> "floor_area_m2".
std::string SnakeCase(std::string_view camel);

}  // namespace fundledger
