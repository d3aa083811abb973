#include "ledger/codec.h"

#include <capnp/any.h>
#include <capnp/schema.h>
#include <kj/exception.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <limits>
#include <optional>
#include <stdexcept>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "crypto/encoding.h"
#include "ledger/schema/event.capnp.h"

namespace fundledger {
namespace {

using capnp::DynamicList;
using capnp::DynamicStruct;
using capnp::DynamicValue;
using capnp::StructSchema;
using nlohmann::json;
using Which = capnp::schema::Type::Which;

constexpr uint64_t kOptionalAnnotationId = 0xc3b1d1e0a6f24d01ull;
constexpr const char* kTypeKey = "type";

std::string FieldName(const StructSchema::Field& field) {
  return SnakeCase(field.getProto().getName().cStr());
}

bool IsOptionalPointer(const StructSchema::Field& field) {
  for (auto annotation : field.getProto().getAnnotations()) {
    if (annotation.getId() == kOptionalAnnotationId) return true;
  }
  return false;
}

// A group `x :union { none @n :Void; value @m :T; }` is an optional number.
bool IsOptionalNumber(const StructSchema::Field& field) {
  if (!field.getProto().isGroup()) return false;
  StructSchema group = field.getType().asStruct();
  auto members = group.getUnionFields();
  return group.getNonUnionFields().size() == 0 && members.size() == 2 &&
         members[0].getProto().getName() == "none" && members[1].getProto().getName() == "value";
}

// An unnamed union whose members are structs: written as "type" plus the member's fields.
bool HasTypeUnion(StructSchema schema) {
  auto members = schema.getUnionFields();
  if (members.size() == 0) return false;
  for (auto member : members) {
    if (member.getType().which() != Which::STRUCT) return false;
  }
  return true;
}

const char* JsonTypeName(const json& value) { return value.type_name(); }

Status TypeError(std::string_view field, std::string_view expected, const json& got) {
  return Status::InvalidArgument(
      "json_field_type",
      std::string("expected ") + std::string(expected) + ", got " + JsonTypeName(got), field);
}

struct IntRange {
  bool is_signed;
  int64_t min_signed;
  uint64_t max_unsigned;
};

IntRange RangeOf(Which which) {
  switch (which) {
    case Which::INT8:
      return {true, std::numeric_limits<int8_t>::min(), 127};
    case Which::INT16:
      return {true, std::numeric_limits<int16_t>::min(), 32767};
    case Which::INT32:
      return {true, std::numeric_limits<int32_t>::min(), 2147483647};
    case Which::INT64:
      return {true, std::numeric_limits<int64_t>::min(),
              uint64_t(std::numeric_limits<int64_t>::max())};
    case Which::UINT8:
      return {false, 0, 255};
    case Which::UINT16:
      return {false, 0, 65535};
    case Which::UINT32:
      return {false, 0, 4294967295u};
    default:
      return {false, 0, std::numeric_limits<uint64_t>::max()};
  }
}

bool IsInteger(Which which) {
  switch (which) {
    case Which::INT8:
    case Which::INT16:
    case Which::INT32:
    case Which::INT64:
    case Which::UINT8:
    case Which::UINT16:
    case Which::UINT32:
    case Which::UINT64:
      return true;
    default:
      return false;
  }
}

// Converts a scalar JSON value to a DynamicValue of `type`, or fails naming `path`.
Status ScalarFromJson(const json& in, capnp::Type type, std::string_view path,
                      DynamicValue::Reader* out, std::vector<uint8_t>* data_storage) {
  Which which = type.which();
  if (which == Which::BOOL) {
    if (!in.is_boolean()) return TypeError(path, "boolean", in);
    *out = in.get<bool>();
    return Status::Ok();
  }
  if (IsInteger(which)) {
    if (!in.is_number_integer()) return TypeError(path, "integer", in);
    IntRange range = RangeOf(which);
    if (in.is_number_unsigned() || in.get<int64_t>() >= 0) {
      uint64_t v = in.get<uint64_t>();
      if (v > range.max_unsigned) {
        return Status::InvalidArgument("json_out_of_range", "integer too large", path);
      }
      if (range.is_signed) {
        *out = int64_t(v);
      } else {
        *out = v;
      }
    } else {
      int64_t v = in.get<int64_t>();
      if (!range.is_signed || v < range.min_signed) {
        return Status::InvalidArgument("json_out_of_range", "integer too small", path);
      }
      *out = v;
    }
    return Status::Ok();
  }
  if (which == Which::TEXT) {
    if (!in.is_string()) return TypeError(path, "string", in);
    const std::string& s = in.get_ref<const std::string&>();
    if (s.size() > kJsonTextBytesMax) {
      return Status::InvalidArgument("json_out_of_range", "text too long", path);
    }
    if (s.find('\0') != std::string::npos) {
      return Status::InvalidArgument("json_field_type", "text contains a NUL character", path);
    }
    *out = capnp::Text::Reader(s.data(), s.size());
    return Status::Ok();
  }
  if (which == Which::DATA) {
    if (!in.is_string()) return TypeError(path, "base64 string", in);
    Status s = Base64Decode(in.get_ref<const std::string&>(), data_storage, kJsonTextBytesMax);
    if (!s.ok()) return Status::InvalidArgument("bad_base64", s.message(), path);
    *out = capnp::Data::Reader(data_storage->data(), data_storage->size());
    return Status::Ok();
  }
  if (which == Which::ENUM) {
    if (!in.is_string()) return TypeError(path, "string", in);
    const std::string& name = in.get_ref<const std::string&>();
    for (auto enumerant : type.asEnum().getEnumerants()) {
      if (SnakeCase(enumerant.getProto().getName().cStr()) == name) {
        *out = capnp::DynamicEnum(enumerant);
        return Status::Ok();
      }
    }
    return Status::InvalidArgument("unknown_enum_value", "unknown value \"" + name + "\"", path);
  }
  return Status::InvalidArgument("json_field_type", "field type not supported in JSON", path);
}

std::string Join(std::string_view prefix, std::string_view name) {
  if (prefix.empty()) return std::string(name);
  return std::string(prefix) + "." + std::string(name);
}

Status StructFromJson(const json& in, DynamicStruct::Builder out, const std::string& path);

Status ValueFromJson(const json& in, DynamicStruct::Builder out, const StructSchema::Field& field,
                     const std::string& path) {
  capnp::Type type = field.getType();
  if (type.which() == Which::STRUCT) {
    if (!in.is_object()) return TypeError(path, "object", in);
    return StructFromJson(in, out.init(field).as<DynamicStruct>(), path);
  }
  if (type.which() == Which::LIST) {
    if (!in.is_array()) return TypeError(path, "array", in);
    if (in.size() > kJsonListItemsMax) {
      return Status::InvalidArgument("json_out_of_range", "too many items", path);
    }
    capnp::Type element = type.asList().getElementType();
    DynamicList::Builder list = out.init(field, in.size()).as<DynamicList>();
    for (size_t i = 0; i < in.size(); ++i) {
      std::string item_path = path + "[" + std::to_string(i) + "]";
      if (element.which() == Which::STRUCT) {
        if (!in[i].is_object()) return TypeError(item_path, "object", in[i]);
        FL_RETURN_IF_ERROR(StructFromJson(in[i], list[i].as<DynamicStruct>(), item_path));
      } else if (element.which() == Which::LIST) {
        return Status::InvalidArgument("json_field_type", "nested lists not supported", path);
      } else {
        DynamicValue::Reader value;
        std::vector<uint8_t> storage;
        FL_RETURN_IF_ERROR(ScalarFromJson(in[i], element, item_path, &value, &storage));
        list.set(i, value);
      }
    }
    return Status::Ok();
  }
  DynamicValue::Reader value;
  std::vector<uint8_t> storage;
  FL_RETURN_IF_ERROR(ScalarFromJson(in, type, path, &value, &storage));
  out.set(field, value);
  return Status::Ok();
}

Status OptionalNumberFromJson(const json* in, DynamicStruct::Builder out,
                              const StructSchema::Field& field, const std::string& path) {
  DynamicStruct::Builder group = out.get(field).as<DynamicStruct>();
  StructSchema schema = field.getType().asStruct();
  auto members = schema.getUnionFields();
  if (in == nullptr) {
    group.set(members[0], capnp::VOID);
    return Status::Ok();
  }
  return ValueFromJson(*in, group, members[1], path);
}

// Fills the fields of `schema` (non-union ones, or one union member's struct) from `in`,
// marking each consumed key in `seen`.
Status FieldsFromJson(const json& in, DynamicStruct::Builder out, StructSchema::FieldSubset fields,
                      const std::string& path, std::unordered_set<std::string>* seen) {
  for (auto field : fields) {
    std::string name = FieldName(field);
    std::string field_path = Join(path, name);
    auto it = in.find(name);
    const json* value = (it == in.end() || it->is_null()) ? nullptr : &*it;
    if (it != in.end()) seen->insert(name);
    if (IsOptionalNumber(field)) {
      FL_RETURN_IF_ERROR(OptionalNumberFromJson(value, out, field, field_path));
      continue;
    }
    if (value == nullptr) {
      if (IsOptionalPointer(field)) continue;
      return Status::InvalidArgument("json_missing_field", "required field is missing", field_path);
    }
    FL_RETURN_IF_ERROR(ValueFromJson(*value, out, field, field_path));
  }
  return Status::Ok();
}

Status StructFromJson(const json& in, DynamicStruct::Builder out, const std::string& path) {
  StructSchema schema = out.getSchema();
  std::unordered_set<std::string> seen;
  FL_RETURN_IF_ERROR(FieldsFromJson(in, out, schema.getNonUnionFields(), path, &seen));
  if (HasTypeUnion(schema)) {
    auto it = in.find(kTypeKey);
    if (it == in.end()) {
      return Status::InvalidArgument("json_missing_field", "required field is missing",
                                     Join(path, kTypeKey));
    }
    if (!it->is_string()) return TypeError(Join(path, kTypeKey), "string", *it);
    seen.insert(kTypeKey);
    const std::string& type_name = it->get_ref<const std::string&>();
    bool found = false;
    for (auto member : schema.getUnionFields()) {
      if (FieldName(member) != type_name) continue;
      DynamicStruct::Builder body = out.init(member).as<DynamicStruct>();
      FL_RETURN_IF_ERROR(
          FieldsFromJson(in, body, body.getSchema().getNonUnionFields(), path, &seen));
      found = true;
      break;
    }
    if (!found) {
      return Status::InvalidArgument("unknown_type", "unknown event type \"" + type_name + "\"",
                                     Join(path, kTypeKey));
    }
  }
  for (auto& [key, value] : in.items()) {
    if (!seen.count(key)) {
      return Status::InvalidArgument("json_unknown_field", "unknown field", Join(path, key));
    }
  }
  return Status::Ok();
}

Status ScalarToJson(DynamicValue::Reader value, capnp::Type type, std::string_view path,
                    json* out) {
  Which which = type.which();
  if (which == Which::BOOL) {
    *out = value.as<bool>();
  } else if (IsInteger(which)) {
    if (RangeOf(which).is_signed) {
      *out = value.as<int64_t>();
    } else {
      *out = value.as<uint64_t>();
    }
  } else if (which == Which::TEXT) {
    capnp::Text::Reader text = value.as<capnp::Text>();
    std::string s(text.begin(), text.size());
    if (s.find('\0') != std::string::npos) {
      return Status::InvalidArgument("json_field_type", "text contains a NUL character", path);
    }
    *out = std::move(s);
  } else if (which == Which::DATA) {
    capnp::Data::Reader data = value.as<capnp::Data>();
    *out = Base64Encode({data.begin(), data.size()});
  } else if (which == Which::ENUM) {
    KJ_IF_MAYBE (enumerant, value.as<capnp::DynamicEnum>().getEnumerant()) {
      *out = SnakeCase(enumerant->getProto().getName().cStr());
    } else {
      return Status::InvalidArgument("unknown_enum_value", "unknown enumerant", path);
    }
  } else {
    return Status::InvalidArgument("json_field_type", "field type not supported in JSON", path);
  }
  return Status::Ok();
}

Status StructToJsonAt(DynamicStruct::Reader in, const std::string& path, json* out);

Status ValueToJson(DynamicValue::Reader value, capnp::Type type, const std::string& path,
                   json* out) {
  if (type.which() == Which::STRUCT) return StructToJsonAt(value.as<DynamicStruct>(), path, out);
  if (type.which() == Which::LIST) {
    DynamicList::Reader list = value.as<DynamicList>();
    capnp::Type element = type.asList().getElementType();
    *out = json::array();
    for (uint32_t i = 0; i < list.size(); ++i) {
      json item;
      FL_RETURN_IF_ERROR(
          ValueToJson(list[i], element, path + "[" + std::to_string(i) + "]", &item));
      out->push_back(std::move(item));
    }
    return Status::Ok();
  }
  return ScalarToJson(value, type, path, out);
}

Status FieldsToJson(DynamicStruct::Reader in, StructSchema::FieldSubset fields,
                    const std::string& path, json* out) {
  for (auto field : fields) {
    std::string name = FieldName(field);
    std::string field_path = Join(path, name);
    if (IsOptionalNumber(field)) {
      DynamicStruct::Reader group = in.get(field).as<DynamicStruct>();
      KJ_IF_MAYBE (member, group.which()) {
        if (member->getProto().getName() == "value") {
          json value;
          FL_RETURN_IF_ERROR(
              ScalarToJson(group.get(*member), member->getType(), field_path, &value));
          (*out)[name] = std::move(value);
        }
      } else {
        return Status::InvalidArgument("json_field_type", "unknown union member", field_path);
      }
      continue;
    }
    if (field.getType().isStruct() || field.getType().isList() || field.getType().isText() ||
        field.getType().isData()) {
      if (!in.has(field)) {
        if (IsOptionalPointer(field)) continue;
        return Status::InvalidArgument("json_missing_field", "required field is missing",
                                       field_path);
      }
    }
    json value;
    FL_RETURN_IF_ERROR(ValueToJson(in.get(field), field.getType(), field_path, &value));
    (*out)[name] = std::move(value);
  }
  return Status::Ok();
}

Status StructToJsonAt(DynamicStruct::Reader in, const std::string& path, json* out) {
  StructSchema schema = in.getSchema();
  *out = json::object();
  FL_RETURN_IF_ERROR(FieldsToJson(in, schema.getNonUnionFields(), path, out));
  if (HasTypeUnion(schema)) {
    KJ_IF_MAYBE (member, in.which()) {
      (*out)[kTypeKey] = FieldName(*member);
      DynamicStruct::Reader body = in.get(*member).as<DynamicStruct>();
      FL_RETURN_IF_ERROR(FieldsToJson(body, body.getSchema().getNonUnionFields(), path, out));
    } else {
      return Status::InvalidArgument("unknown_type", "unknown event type", Join(path, kTypeKey));
    }
  }
  return Status::Ok();
}

// Builds the document as nlohmann's own DOM builder does, rejecting duplicate keys, excessive
// depth and items of more than kJsonItemValuesMax values on the way. Not nlohmann's callback
// parser: after every object it scans the enclosing container for discarded values, which is
// quadratic in the length of an array of objects (an 8 MiB body "[{},{},...]" took over an hour
// of CPU; found by fuzz_event_json).
//
// With `on_item`, the items of a document that is an array are each handed over as soon as they
// are parsed and not kept, and so is the document itself if it is not an array: only one item's
// DOM is held at a time. An object's DOM costs 100-200 bytes a value, so a whole 8 MiB body
// of small values built at once took over 200 MiB.
class StrictSax {
 public:
  using Dom = nlohmann::detail::json_sax_dom_parser<json>;
  using OnItem = std::function<void(json&& item)>;
  StrictSax(json* out, size_t items_max, const OnItem* on_item = nullptr)
      : out_(out), items_max_(items_max), on_item_(on_item) {}

  bool null() { return Value() && dom_->null() && Ended(); }
  bool boolean(bool value) { return Value() && dom_->boolean(value) && Ended(); }
  bool number_integer(json::number_integer_t value) {
    return Value() && dom_->number_integer(value) && Ended();
  }
  bool number_unsigned(json::number_unsigned_t value) {
    return Value() && dom_->number_unsigned(value) && Ended();
  }
  bool number_float(json::number_float_t value, const json::string_t& text) {
    return Value() && dom_->number_float(value, text) && Ended();
  }
  bool string(json::string_t& value) { return Value() && dom_->string(value) && Ended(); }
  bool binary(json::binary_t& value) { return Value() && dom_->binary(value) && Ended(); }
  bool start_object(size_t size) {
    if (!Value() || !Deeper()) return false;
    keys_.emplace_back();
    return dom_->start_object(size);
  }
  bool key(json::string_t& key) {
    if (!Counted()) return false;
    if (!keys_.back().insert(key).second) return Fail("duplicate key \"" + key + "\"");
    return dom_->key(key);
  }
  bool end_object() {
    keys_.pop_back();
    --depth_;
    return dom_->end_object() && Ended();
  }
  bool start_array(size_t size) {
    if (depth_ == 0) {
      top_is_array_ = true;
      ++depth_;
      // The document's own array: its items are the units counted (and handed over).
      if (on_item_ == nullptr) {
        dom_.emplace(*out_, /*allow_exceptions_=*/false);
        return dom_->start_array(size);
      }
      return true;
    }
    return Value() && Deeper() && dom_->start_array(size);
  }
  bool end_array() {
    --depth_;
    if (depth_ == 0 && on_item_ != nullptr) return true;  // the document's own array
    return dom_->end_array() && Ended();
  }
  bool parse_error(size_t, const std::string&, const nlohmann::detail::exception& e) {
    return Fail(e.what());
  }

  const std::string& error() const { return error_; }
  bool too_many_items() const { return too_many_items_; }
  bool too_many_values() const { return too_many_values_; }

 private:
  // A value begins. At the top of the document's own array it begins an item (counted, and with
  // on_item a DOM of its own); at the top of the document it begins the document.
  bool Value() {
    if (depth_ == 0 || (depth_ == 1 && top_is_array_)) {
      if (depth_ == 1 && ++items_ > items_max_) {
        too_many_items_ = true;
        return Fail("more than " + std::to_string(items_max_) + " items");
      }
      values_ = 0;
      if (on_item_ != nullptr) {
        item_ = json();
        dom_.emplace(item_, /*allow_exceptions_=*/false);
      } else if (depth_ == 0) {
        dom_.emplace(*out_, /*allow_exceptions_=*/false);
      }
    }
    return Counted();
  }
  // One more value or key of the current item.
  bool Counted() {
    if (++values_ <= kJsonItemValuesMax) return true;
    too_many_values_ = true;
    return Fail((top_is_array_ ? "item " + std::to_string(items_) : std::string("the document")) +
                " holds more than " + std::to_string(kJsonItemValuesMax) + " values");
  }
  // A value ended: if it was a whole item, hands it over.
  bool Ended() {
    if (on_item_ != nullptr && depth_ == (top_is_array_ ? 1u : 0u)) {
      dom_.reset();
      (*on_item_)(std::move(item_));
      item_ = json();
    }
    return true;
  }
  // A container opens at depth_ (0 for the document itself): at most kJsonDepthMax levels.
  bool Deeper() {
    if (depth_ >= kJsonDepthMax)
      return Fail("nesting deeper than " + std::to_string(kJsonDepthMax));
    ++depth_;
    return true;
  }
  bool Fail(std::string why) {
    error_ = std::move(why);
    return false;
  }

  json* const out_;
  const size_t items_max_;
  const OnItem* const on_item_;
  std::optional<Dom> dom_;  // builds *out_, or item_ with on_item_
  json item_;
  size_t items_ = 0;   // of the document's own array
  size_t values_ = 0;  // values and keys of the current item (or of the document)
  bool top_is_array_ = false;
  bool too_many_items_ = false;
  bool too_many_values_ = false;
  size_t depth_ = 0;
  std::vector<std::unordered_set<std::string>> keys_;  // of each open object
  std::string error_;
};

// --- The JSON form copied without JSON (CopyJsonForm) -------------------------------------------
//
// Mirrors StructToJsonAt followed by StructFromJson, field by field in the same order, but reads
// and writes the encoding directly (AnyStruct) from a per-struct table of offsets. capnp's
// DynamicStruct get/set/has re-read the schema on every call (getType, getProto), which cost more
// than everything else the check does. The raw reads are the ones DynamicStruct makes: the same
// getStruct, getBlob and typed getList (same expected element size), so that the same malformed
// input throws; a data value is copied as stored (XOR its default), which is what get then set
// writes; a pointer is read only when non-null (has()), so pointer defaults never enter.

struct StructInfo;

// How the JSON form carries one value: a field's, an optional number's or a list element's.
enum class ValueKind : uint8_t { kBool, kInt, kEnum, kText, kData, kStruct, kList };

struct SlotInfo {
  ValueKind kind = ValueKind::kInt;
  uint32_t offset = 0;        // data: in units of `bits`; pointers: index in the pointer section
  uint8_t bits = 0;           // width of a data value: 1, 8, 16, 32 or 64
  uint16_t enum_default = 0;  // a stored enum is its value XOR the field's default
  uint16_t enumerants = 0;    // how many enumerants the schema knows

  bool IsPointer() const { return kind >= ValueKind::kText; }
};

struct FieldInfo {
  std::string name;  // JSON name, only for naming a failure
  SlotInfo slot;     // the field's value; an optional number's value member
  bool optional_pointer = false;
  bool optional_number = false;
  uint32_t discriminant_offset = 0;  // optional numbers, in 16-bit units
  uint16_t none_discriminant = 0;
  uint16_t value_discriminant = 0;
  SlotInfo element;                   // lists
  capnp::ListSchema list_schema;      // lists of structs
  const StructInfo* child = nullptr;  // structs and lists of structs
};

struct StructInfo {
  uint16_t data_words = 0;
  uint16_t pointers = 0;
  std::vector<FieldInfo> fields;  // the non-union fields, in schema order
  bool type_union = false;
  uint32_t discriminant_offset = 0;  // in 16-bit units
  struct Member {
    uint32_t pointer = 0;
    const StructInfo* body = nullptr;
  };
  std::vector<Member> members;  // by discriminant value

  // For CheckJsonFormInPlace: the data bits and pointers every copy carries (plain fields and
  // discriminants; an optional number's value and the union member are added per struct).
  static constexpr size_t kMaskBytesMax = 256;
  static constexpr size_t kMaskPointersMax = 64;
  bool maskable = false;  // within the limits above
  std::vector<uint8_t> data_mask;
  uint64_t pointer_mask = 0;
};

// Keyed by schema node id: the ledger schema has no generic (branded) structs.
using SchemaTable = std::unordered_map<uint64_t, StructInfo>;

// A shape the JSON form cannot carry (floats, Void, AnyPointer, capabilities, plain groups, nested
// lists) would leave no event with a JSON form: a broken schema, so it stops the program.
[[noreturn]] void UnsupportedShape(const StructSchema::Field& field) {
  throw std::logic_error("CopyJsonForm: field " + FieldName(field) + " of " +
                         field.getContainingStruct().getShortDisplayName().cStr() +
                         " has a type the JSON form does not carry");
}

SlotInfo DescribeValue(const capnp::Type& type, const StructSchema::Field& field) {
  switch (type.which()) {
    case Which::BOOL:
      return {ValueKind::kBool, 0, 1};
    case Which::INT8:
    case Which::UINT8:
      return {ValueKind::kInt, 0, 8};
    case Which::INT16:
    case Which::UINT16:
      return {ValueKind::kInt, 0, 16};
    case Which::INT32:
    case Which::UINT32:
      return {ValueKind::kInt, 0, 32};
    case Which::INT64:
    case Which::UINT64:
      return {ValueKind::kInt, 0, 64};
    case Which::ENUM:
      return {ValueKind::kEnum, 0, 16, 0, uint16_t(type.asEnum().getEnumerants().size())};
    case Which::TEXT:
      return {ValueKind::kText};
    case Which::DATA:
      return {ValueKind::kData};
    case Which::STRUCT:
      return {ValueKind::kStruct};
    case Which::LIST:
      return {ValueKind::kList};
    default:
      UnsupportedShape(field);
  }
}

// The value of slot field `field` (of a struct or of an optional number's group).
SlotInfo DescribeSlot(const StructSchema::Field& field) {
  SlotInfo slot = DescribeValue(field.getType(), field);
  auto proto = field.getProto().getSlot();
  slot.offset = proto.getOffset();
  if (slot.kind == ValueKind::kEnum) slot.enum_default = proto.getDefaultValue().getEnum();
  return slot;
}

const StructInfo* AddStruct(StructSchema schema, SchemaTable* table);

// Marks the `bits` of a data value at `offset` (in units of `bits`) in `mask`.
void Cover(uint8_t* mask, uint32_t offset, uint8_t bits) {
  if (bits == 1) {
    mask[offset / 8] |= uint8_t(1u << (offset % 8));
    return;
  }
  size_t bytes = bits / 8;
  for (size_t i = 0; i < bytes; ++i) mask[offset * bytes + i] = 0xFF;
}

void DescribeCoverage(StructInfo* info) {
  info->maskable = info->data_words * 8u <= StructInfo::kMaskBytesMax &&
                   info->pointers <= StructInfo::kMaskPointersMax;
  if (!info->maskable) return;
  info->data_mask.assign(info->data_words * 8u, 0);
  for (const FieldInfo& field : info->fields) {
    if (field.optional_number) {
      Cover(info->data_mask.data(), field.discriminant_offset, 16);
    } else if (field.slot.IsPointer()) {
      info->pointer_mask |= uint64_t(1) << field.slot.offset;
    } else {
      Cover(info->data_mask.data(), field.slot.offset, field.slot.bits);
    }
  }
  if (info->type_union) Cover(info->data_mask.data(), info->discriminant_offset, 16);
}

FieldInfo DescribeField(const StructSchema::Field& field, SchemaTable* table) {
  FieldInfo info;
  info.name = FieldName(field);
  info.optional_pointer = IsOptionalPointer(field);
  if (field.getProto().isGroup()) {
    if (!IsOptionalNumber(field)) UnsupportedShape(field);
    StructSchema group = field.getType().asStruct();
    auto members = group.getUnionFields();
    info.optional_number = true;
    info.discriminant_offset = group.getProto().getStruct().getDiscriminantOffset();
    info.none_discriminant = members[0].getProto().getDiscriminantValue();
    info.value_discriminant = members[1].getProto().getDiscriminantValue();
    info.slot = DescribeSlot(members[1]);
    // ScalarToJson writes no struct or list.
    if (info.slot.kind == ValueKind::kStruct || info.slot.kind == ValueKind::kList) {
      UnsupportedShape(members[1]);
    }
    return info;
  }
  info.slot = DescribeSlot(field);
  if (info.slot.kind == ValueKind::kStruct) {
    info.child = AddStruct(field.getType().asStruct(), table);
  } else if (info.slot.kind == ValueKind::kList) {
    info.list_schema = field.getType().asList();
    capnp::Type element = info.list_schema.getElementType();
    info.element = DescribeValue(element, field);
    if (info.element.kind == ValueKind::kList) UnsupportedShape(field);
    if (info.element.kind == ValueKind::kStruct) info.child = AddStruct(element.asStruct(), table);
  }
  return info;
}

// Describes `schema` and every struct reachable from it. Entries never move once inserted
// (unordered_map nodes are stable), so the child pointers stay valid.
const StructInfo* AddStruct(StructSchema schema, SchemaTable* table) {
  auto proto = schema.getProto();
  auto [it, inserted] = table->try_emplace(proto.getId());
  StructInfo* info = &it->second;
  if (!inserted) return info;
  info->data_words = proto.getStruct().getDataWordCount();
  info->pointers = proto.getStruct().getPointerCount();
  for (auto field : schema.getNonUnionFields()) info->fields.push_back(DescribeField(field, table));
  // Other unions are not in the JSON form: left out of the copy as StructToJson leaves them out.
  info->type_union = HasTypeUnion(schema);
  if (info->type_union) {
    info->discriminant_offset = proto.getStruct().getDiscriminantOffset();
    info->members.resize(schema.getUnionFields().size());
    for (auto member : schema.getUnionFields()) {
      StructInfo::Member& m = info->members.at(member.getProto().getDiscriminantValue());
      m.pointer = member.getProto().getSlot().getOffset();
      m.body = AddStruct(member.getType().asStruct(), table);
    }
  }
  DescribeCoverage(info);
  return info;
}

// Built once, read-only after: safe to share between the checking threads.
const SchemaTable& LedgerSchemaTable() {
  static const SchemaTable table = [] {
    SchemaTable t;
    AddStruct(capnp::Schema::from<schema::Record>(), &t);
    return t;
  }();
  return table;
}

// The description of a ledger struct, or nullptr for one from outside the ledger schema. The
// event, the root of every check on a hot path, is recognised by its schema's identity: reading
// the schema node for its id costs as much as a small event's whole check.
const StructInfo* FindLedgerStruct(StructSchema schema) {
  static const StructInfo* const kEvent = &LedgerSchemaTable().at(capnp::typeId<schema::Event>());
  if (schema == capnp::Schema::from<schema::Event>()) return kEvent;
  const SchemaTable& table = LedgerSchemaTable();
  auto it = table.find(schema.getProto().getId());
  return it == table.end() ? nullptr : &it->second;
}

// Where a failure is, as a chain on the stack; rendered ("payee.name", "targets[1]") only when
// something fails, so that the copy allocates nothing for names.
struct JsonPath {
  const JsonPath* parent = nullptr;  // nullptr: the root
  std::string_view name;             // a field's JSON name; empty for a list item
  uint32_t index = 0;                // a list item's index

  std::string Render() const {
    if (parent == nullptr) return "";
    std::string prefix = parent->Render();
    if (name.empty()) return prefix + "[" + std::to_string(index) + "]";
    return Join(prefix, name);
  }
};

Status Fail(const char* code, const char* message, const JsonPath& path) {
  return Status::InvalidArgument(code, message, path.Render());
}

// A data value as stored, little-endian; zero beyond a shorter data section, as capnp reads a
// field its writer did not have.
uint64_t LoadBits(kj::ArrayPtr<const capnp::byte> data, uint32_t offset, uint8_t bits) {
  if (bits == 1) {
    size_t at = offset / 8;
    return at < data.size() ? (data[at] >> (offset % 8)) & 1 : 0;
  }
  size_t bytes = bits / 8;
  size_t at = size_t(offset) * bytes;
  if (at + bytes > data.size()) return 0;
  uint64_t value = 0;
  for (size_t i = 0; i < bytes; ++i) value |= uint64_t(data[at + i]) << (8 * i);
  return value;
}

// REQUIRES: `data` is a fresh builder's (zero) and holds the slot.
void StoreBits(kj::ArrayPtr<capnp::byte> data, uint32_t offset, uint8_t bits, uint64_t value) {
  if (bits == 1) {
    if (value != 0) data[offset / 8] |= capnp::byte(1u << (offset % 8));
    return;
  }
  size_t bytes = bits / 8;
  for (size_t i = 0; i < bytes; ++i) data[offset * bytes + i] = capnp::byte(value >> (8 * i));
}

capnp::AnyPointer::Reader PointerAt(capnp::AnyStruct::Reader in, uint32_t index) {
  auto pointers = in.getPointerSection();
  return index < pointers.size() ? pointers[index] : capnp::AnyPointer::Reader();
}

Status CheckText(capnp::Text::Reader text, const JsonPath& path) {
  std::string_view s(text.begin(), text.size());
  if (s.find('\0') != std::string_view::npos) {
    return Fail("json_field_type", "text contains a NUL character", path);
  }
  // The round trip fails when writing the JSON out (nlohmann's dump) ...
  if (!IsValidUtf8(s)) return Fail("json_field_type", "text is not valid UTF-8", path);
  // ... and on the way back in, where the text limit is checked.
  if (s.size() > kJsonTextBytesMax) return Fail("json_out_of_range", "text too long", path);
  return Status::Ok();
}

Status CheckData(capnp::Data::Reader data, const JsonPath& path) {
  // Base64Decode(..., kJsonTextBytesMax) on the way back refuses more decoded bytes.
  if (data.size() > kJsonTextBytesMax) return Fail("bad_base64", "longer than allowed", path);
  return Status::Ok();
}

Status CheckEnum(uint64_t stored, const SlotInfo& slot, const JsonPath& path) {
  if ((stored ^ slot.enum_default) >= slot.enumerants) {
    return Fail("unknown_enum_value", "unknown enumerant", path);
  }
  return Status::Ok();
}

// Checks one element of a list of scalars as ScalarToJson and ScalarFromJson would.
template <typename T>
Status CheckElement(const T& value, const SlotInfo& element, const JsonPath& path) {
  if constexpr (std::is_same_v<T, capnp::Text::Reader>) {
    return CheckText(value, path);
  } else if constexpr (std::is_same_v<T, capnp::Data::Reader>) {
    return CheckData(value, path);
  } else if constexpr (std::is_same_v<T, uint16_t>) {
    if (element.kind == ValueKind::kEnum) return CheckEnum(value, element, path);
  }
  return Status::Ok();
}

// `in` read as List(T) reads it: the same expected element size, so the same lists are refused.
template <typename T>
Status CopyScalarList(capnp::AnyPointer::Reader in, capnp::AnyPointer::Builder out,
                      const SlotInfo& element, const JsonPath& path) {
  auto items = in.getAs<capnp::List<T>>();
  if (items.size() > kJsonListItemsMax) return Fail("json_out_of_range", "too many items", path);
  auto copy = out.initAs<capnp::List<T>>(items.size());
  for (uint32_t i = 0; i < items.size(); ++i) {
    auto value = items[i];
    FL_RETURN_IF_ERROR(CheckElement(value, element, JsonPath{&path, {}, i}));
    copy.set(i, value);
  }
  return Status::Ok();
}

Status CopyStruct(capnp::AnyStruct::Reader in, capnp::AnyStruct::Builder out,
                  const StructInfo& info, const JsonPath& path);

Status CopyStructList(capnp::AnyPointer::Reader in, capnp::AnyPointer::Builder out,
                      const FieldInfo& field, const JsonPath& path) {
  auto items = in.getAs<capnp::DynamicList>(field.list_schema)
                   .as<capnp::AnyList>()
                   .as<capnp::List<capnp::AnyStruct>>();
  if (items.size() > kJsonListItemsMax) return Fail("json_out_of_range", "too many items", path);
  const StructInfo& element = *field.child;
  auto copy = out.initAsListOfAnyStruct(element.data_words, element.pointers, items.size());
  for (uint32_t i = 0; i < items.size(); ++i) {
    FL_RETURN_IF_ERROR(CopyStruct(items[i], copy[i], element, JsonPath{&path, {}, i}));
  }
  return Status::Ok();
}

// Calls `visit` with std::type_identity<T> for the T that List(T) of `element` is read as.
// REQUIRES: `element` is not a struct (struct lists are read through their schema).
template <typename Visit>
Status VisitScalarType(const SlotInfo& element, Visit visit) {
  switch (element.kind) {
    case ValueKind::kBool:
      return visit(std::type_identity<bool>());
    case ValueKind::kEnum:
      return visit(std::type_identity<uint16_t>());
    case ValueKind::kText:
      return visit(std::type_identity<capnp::Text>());
    case ValueKind::kData:
      return visit(std::type_identity<capnp::Data>());
    case ValueKind::kInt:
      break;
    case ValueKind::kStruct:
    case ValueKind::kList:
      throw std::logic_error("VisitScalarType: struct or nested list");  // see DescribeField
  }
  switch (element.bits) {
    case 8:
      return visit(std::type_identity<uint8_t>());
    case 16:
      return visit(std::type_identity<uint16_t>());
    case 32:
      return visit(std::type_identity<uint32_t>());
    default:
      return visit(std::type_identity<uint64_t>());
  }
}

Status CopyList(capnp::AnyPointer::Reader in, capnp::AnyPointer::Builder out,
                const FieldInfo& field, const JsonPath& path) {
  if (field.element.kind == ValueKind::kStruct) return CopyStructList(in, out, field, path);
  return VisitScalarType(field.element, [&](auto type) {
    return CopyScalarList<typename decltype(type)::type>(in, out, field.element, path);
  });
}

// A pointer field that has() is true for; `out` is null.
Status CopyPointer(capnp::AnyPointer::Reader in, capnp::AnyPointer::Builder out,
                   const FieldInfo& field, const JsonPath& path) {
  switch (field.slot.kind) {
    case ValueKind::kText: {
      capnp::Text::Reader text = in.getAs<capnp::Text>();
      FL_RETURN_IF_ERROR(CheckText(text, path));
      out.setAs<capnp::Text>(text);
      return Status::Ok();
    }
    case ValueKind::kData: {
      capnp::Data::Reader data = in.getAs<capnp::Data>();
      FL_RETURN_IF_ERROR(CheckData(data, path));
      out.setAs<capnp::Data>(data);
      return Status::Ok();
    }
    case ValueKind::kStruct: {
      const StructInfo& child = *field.child;
      return CopyStruct(in.getAs<capnp::AnyStruct>(),
                        out.initAsAnyStruct(child.data_words, child.pointers), child, path);
    }
    default:
      return CopyList(in, out, field, path);
  }
}

// A value in the data section (bool, integer, enum), or an optional number's value member.
Status CopyData(capnp::AnyStruct::Reader in, capnp::AnyStruct::Builder out, const SlotInfo& slot,
                const JsonPath& path) {
  uint64_t stored = LoadBits(in.getDataSection(), slot.offset, slot.bits);
  if (slot.kind == ValueKind::kEnum) FL_RETURN_IF_ERROR(CheckEnum(stored, slot, path));
  StoreBits(out.getDataSection(), slot.offset, slot.bits, stored);
  return Status::Ok();
}

// Written only when its value member is set, read back as none when absent.
Status CopyOptionalNumber(capnp::AnyStruct::Reader in, capnp::AnyStruct::Builder out,
                          const FieldInfo& field, const JsonPath& path) {
  uint64_t which = LoadBits(in.getDataSection(), field.discriminant_offset, 16);
  if (which == field.none_discriminant || which == field.value_discriminant) {
    StoreBits(out.getDataSection(), field.discriminant_offset, 16, which);
  } else {
    return Fail("json_field_type", "unknown union member", path);
  }
  if (which == field.none_discriminant) return Status::Ok();
  if (!field.slot.IsPointer()) return CopyData(in, out, field.slot, path);
  return CopyPointer(PointerAt(in, field.slot.offset), out.getPointerSection()[field.slot.offset],
                     field, path);
}

Status CopyFields(capnp::AnyStruct::Reader in, capnp::AnyStruct::Builder out,
                  const std::vector<FieldInfo>& fields, const JsonPath& path) {
  for (const FieldInfo& field : fields) {
    JsonPath field_path{&path, field.name};
    if (field.optional_number) {
      FL_RETURN_IF_ERROR(CopyOptionalNumber(in, out, field, field_path));
    } else if (!field.slot.IsPointer()) {
      FL_RETURN_IF_ERROR(CopyData(in, out, field.slot, field_path));
    } else {
      capnp::AnyPointer::Reader value = PointerAt(in, field.slot.offset);
      if (value.isNull()) {
        if (field.optional_pointer) continue;
        return Fail("json_missing_field", "required field is missing", field_path);
      }
      FL_RETURN_IF_ERROR(
          CopyPointer(value, out.getPointerSection()[field.slot.offset], field, field_path));
    }
  }
  return Status::Ok();
}

Status CopyStruct(capnp::AnyStruct::Reader in, capnp::AnyStruct::Builder out,
                  const StructInfo& info, const JsonPath& path) {
  FL_RETURN_IF_ERROR(CopyFields(in, out, info.fields, path));
  if (!info.type_union) return Status::Ok();
  uint64_t which = LoadBits(in.getDataSection(), info.discriminant_offset, 16);
  if (which >= info.members.size()) {
    return Fail("unknown_type", "unknown event type", JsonPath{&path, kTypeKey});
  }
  // The member's fields sit beside the common ones in JSON, so they share the struct's path.
  // Like StructToJsonAt, a null member reads as the empty struct.
  const StructInfo::Member& member = info.members[which];
  StoreBits(out.getDataSection(), info.discriminant_offset, 16, which);
  auto body = PointerAt(in, member.pointer).getAs<capnp::AnyStruct>();
  auto body_copy = out.getPointerSection()[member.pointer].initAsAnyStruct(member.body->data_words,
                                                                           member.body->pointers);
  return CopyFields(body, body_copy, member.body->fields, path);
}

// --- The JSON form checked in place (CheckJsonFormInPlace) --------------------------------------
//
// Walks the event as CopyStruct does, field by field in the same order and with the same reads
// (so that the same input throws and the same failure comes first), and notes instead of
// copying whatever the copy's canonical encoding would not reproduce:
//   - data bits and pointers outside what the form carries (the copy has zeros and nulls there);
//   - a struct not cut after its last non-zero data word and last non-null pointer, or a struct
//     list whose element size is not that of its largest element so cut (canonical forms are);
//   - a list of another element size than the schema's (the copy writes the schema's), and
//     non-zero padding behind the elements of a data list or a blob (the copy's is zero);
//   - a null union member or optional value (the copy writes an empty one).
// The layout (objects in preorder, no gaps) is the canonical check's. What the reader interface
// does not show (the element size of an empty struct list) is left undecided, for the copy.

struct InPlace {
  bool second_form = false;
  bool undecided = false;
};

// What a struct's copy carries: the StructInfo's fixed coverage, plus the optional values set
// and the union member chosen.
struct Coverage {
  explicit Coverage(const StructInfo& info) : pointers(info.pointer_mask) {
    std::copy(info.data_mask.begin(), info.data_mask.end(), data);
  }
  uint8_t data[StructInfo::kMaskBytesMax] = {};
  uint64_t pointers = 0;
};

size_t TrimmedDataWords(kj::ArrayPtr<const capnp::byte> data) {
  size_t words = data.size() / 8;
  while (words > 0 && std::all_of(data.begin() + (words - 1) * 8, data.begin() + words * 8,
                                  [](capnp::byte b) { return b == 0; })) {
    --words;
  }
  return words;
}

size_t TrimmedPointers(capnp::List<capnp::AnyPointer>::Reader pointers) {
  size_t n = pointers.size();
  while (n > 0 && pointers[uint32_t(n - 1)].isNull()) --n;
  return n;
}

bool IsTrimmed(capnp::AnyStruct::Reader s) {
  return TrimmedDataWords(s.getDataSection()) * 8 == s.getDataSection().size() &&
         TrimmedPointers(s.getPointerSection()) == s.getPointerSection().size();
}

// Whether what `info` does not cover of `in` is zero and null.
bool OnlyCovered(capnp::AnyStruct::Reader in, const StructInfo& info, const Coverage& covered) {
  auto data = in.getDataSection();
  for (size_t i = 0; i < data.size(); ++i) {
    uint8_t carried = i < info.data_mask.size() ? covered.data[i] : 0;
    if ((uint8_t(data[i]) & ~carried) != 0) return false;
  }
  auto pointers = in.getPointerSection();
  for (uint32_t i = 0; i < pointers.size(); ++i) {
    bool carried = i < StructInfo::kMaskPointersMax && (covered.pointers >> i & 1) != 0;
    if (!carried && !pointers[i].isNull()) return false;
  }
  return true;
}

// Notes non-zero bytes between `used` bytes of list content at `begin` and the word boundary.
// capnp's canonical check refuses them too; they are looked at here so that this check does not
// rest on that. List contents start on a word boundary and occupy whole words (capnp's bounds
// checks cover them); anything else is left undecided.
void CheckPadding(const void* begin, size_t used, InPlace* state) {
  const auto* bytes = static_cast<const uint8_t*>(begin);
  if (reinterpret_cast<uintptr_t>(bytes) % sizeof(capnp::word) != 0) {
    state->undecided = true;
    return;
  }
  for (size_t i = used; i % sizeof(capnp::word) != 0; ++i) {
    if (bytes[i] != 0) state->second_form = true;
  }
}

capnp::ElementSize EncodedSize(const SlotInfo& element) {
  switch (element.kind) {
    case ValueKind::kBool:
      return capnp::ElementSize::BIT;
    case ValueKind::kEnum:
      return capnp::ElementSize::TWO_BYTES;
    case ValueKind::kText:
    case ValueKind::kData:
      return capnp::ElementSize::POINTER;
    case ValueKind::kStruct:
      return capnp::ElementSize::INLINE_COMPOSITE;
    default:
      break;
  }
  switch (element.bits) {
    case 8:
      return capnp::ElementSize::BYTE;
    case 16:
      return capnp::ElementSize::TWO_BYTES;
    case 32:
      return capnp::ElementSize::FOUR_BYTES;
    default:
      return capnp::ElementSize::EIGHT_BYTES;
  }
}

template <typename Blob>
void CheckBlobPadding(const Blob& blob, InPlace* state) {
  if constexpr (std::is_same_v<Blob, capnp::Text::Reader>) {
    CheckPadding(blob.begin(), blob.size() + 1, state);  // the NUL is the text's
  } else {
    CheckPadding(blob.begin(), blob.size(), state);
  }
}

template <typename T>
Status ExactScalarList(capnp::AnyPointer::Reader in, const SlotInfo& element, const JsonPath& path,
                       InPlace* state) {
  auto items = in.getAs<capnp::List<T>>();
  if (items.size() > kJsonListItemsMax) return Fail("json_out_of_range", "too many items", path);
  capnp::AnyList::Reader list(items);
  const bool same_size = list.getElementSize() == EncodedSize(element);
  if (!same_size) state->second_form = true;
  for (uint32_t i = 0; i < items.size(); ++i) {
    auto value = items[i];
    FL_RETURN_IF_ERROR(CheckElement(value, element, JsonPath{&path, {}, i}));
    if constexpr (std::is_same_v<T, capnp::Text> || std::is_same_v<T, capnp::Data>) {
      CheckBlobPadding(value, state);
    }
  }
  if constexpr (!std::is_same_v<T, capnp::Text> && !std::is_same_v<T, capnp::Data>) {
    if (same_size) {
      kj::ArrayPtr<const capnp::byte> raw = list.getRawBytes();
      if (std::is_same_v<T, bool> && items.size() % 8 != 0 &&
          (uint8_t(raw[raw.size() - 1]) >> (items.size() % 8)) != 0) {
        state->second_form = true;  // bits behind the last element
      }
      CheckPadding(raw.begin(), raw.size(), state);
    }
  }
  return Status::Ok();
}

Status ExactStruct(capnp::AnyStruct::Reader in, const StructInfo& info, const JsonPath& path,
                   InPlace* state);

Status ExactStructList(capnp::AnyPointer::Reader in, const FieldInfo& field, const JsonPath& path,
                       InPlace* state) {
  auto list = in.getAs<capnp::DynamicList>(field.list_schema).as<capnp::AnyList>();
  auto items = list.as<capnp::List<capnp::AnyStruct>>();
  if (items.size() > kJsonListItemsMax) return Fail("json_out_of_range", "too many items", path);
  if (list.getElementSize() != capnp::ElementSize::INLINE_COMPOSITE) {
    state->second_form = true;
  } else if (items.size() == 0) {
    state->undecided = true;  // the element size, behind the list's tag, is not shown
  }
  const StructInfo& element = *field.child;
  size_t data_words = 0, pointers = 0;
  for (uint32_t i = 0; i < items.size(); ++i) {
    FL_RETURN_IF_ERROR(ExactStruct(items[i], element, JsonPath{&path, {}, i}, state));
    data_words = std::max(data_words, TrimmedDataWords(items[i].getDataSection()));
    pointers = std::max(pointers, TrimmedPointers(items[i].getPointerSection()));
  }
  if (items.size() > 0 && (items[0].getDataSection().size() != data_words * 8 ||
                           items[0].getPointerSection().size() != pointers)) {
    state->second_form = true;
  }
  if (items.size() > 0 && list.getElementSize() == capnp::ElementSize::INLINE_COMPOSITE) {
    // The tag word before the first element: readers take 29 bits of its 30-bit count, so it is
    // compared whole with the tag the copy's canonical form has. It is found from the first
    // element's data; a list whose elements have none is left undecided.
    auto first = items[0].getDataSection();
    if (first.size() == 0) {
      state->undecided = true;
    } else {
      uint32_t kind_and_count = items.size() << 2;  // kind 0: struct
      uint16_t sizes[2] = {uint16_t(data_words), uint16_t(pointers)};
      uint8_t tag[sizeof(capnp::word)];
      memcpy(tag, &kind_and_count, 4);
      memcpy(tag + 4, sizes, 4);
      if (memcmp(first.begin() - sizeof(capnp::word), tag, sizeof(tag)) != 0) {
        state->second_form = true;
      }
    }
  }
  return Status::Ok();
}

Status ExactList(capnp::AnyPointer::Reader in, const FieldInfo& field, const JsonPath& path,
                 InPlace* state) {
  if (field.element.kind == ValueKind::kStruct) return ExactStructList(in, field, path, state);
  return VisitScalarType(field.element, [&](auto type) {
    return ExactScalarList<typename decltype(type)::type>(in, field.element, path, state);
  });
}

// As CopyPointer: a pointer field that has() is true for, or an optional number's value.
Status ExactPointer(capnp::AnyPointer::Reader in, const FieldInfo& field, const JsonPath& path,
                    InPlace* state) {
  switch (field.slot.kind) {
    case ValueKind::kText: {
      capnp::Text::Reader text = in.getAs<capnp::Text>();
      FL_RETURN_IF_ERROR(CheckText(text, path));
      if (!in.isNull()) CheckBlobPadding(text, state);
      return Status::Ok();
    }
    case ValueKind::kData: {
      capnp::Data::Reader data = in.getAs<capnp::Data>();
      FL_RETURN_IF_ERROR(CheckData(data, path));
      if (!in.isNull()) CheckBlobPadding(data, state);
      return Status::Ok();
    }
    case ValueKind::kStruct: {
      auto child = in.getAs<capnp::AnyStruct>();
      FL_RETURN_IF_ERROR(ExactStruct(child, *field.child, path, state));
      if (!IsTrimmed(child)) state->second_form = true;
      return Status::Ok();
    }
    default:
      return ExactList(in, field, path, state);
  }
}

Status ExactData(capnp::AnyStruct::Reader in, const SlotInfo& slot, const JsonPath& path) {
  if (slot.kind != ValueKind::kEnum) return Status::Ok();
  return CheckEnum(LoadBits(in.getDataSection(), slot.offset, slot.bits), slot, path);
}

// As CopyFields; marks in `covered` what the copy carries beyond the fixed coverage.
Status ExactFields(capnp::AnyStruct::Reader in, const std::vector<FieldInfo>& fields,
                   const JsonPath& path, Coverage* covered, InPlace* state) {
  for (const FieldInfo& field : fields) {
    JsonPath field_path{&path, field.name};
    if (field.optional_number) {
      uint64_t which = LoadBits(in.getDataSection(), field.discriminant_offset, 16);
      if (which != field.none_discriminant && which != field.value_discriminant) {
        return Fail("json_field_type", "unknown union member", field_path);
      }
      if (which == field.none_discriminant) continue;
      if (!field.slot.IsPointer()) {
        FL_RETURN_IF_ERROR(ExactData(in, field.slot, field_path));
        Cover(covered->data, field.slot.offset, field.slot.bits);
        continue;
      }
      capnp::AnyPointer::Reader value = PointerAt(in, field.slot.offset);
      if (value.isNull()) state->second_form = true;  // the copy writes an empty value
      covered->pointers |= uint64_t(1) << field.slot.offset;
      FL_RETURN_IF_ERROR(ExactPointer(value, field, field_path, state));
    } else if (!field.slot.IsPointer()) {
      FL_RETURN_IF_ERROR(ExactData(in, field.slot, field_path));
    } else {
      capnp::AnyPointer::Reader value = PointerAt(in, field.slot.offset);
      if (value.isNull()) {
        if (field.optional_pointer) continue;
        return Fail("json_missing_field", "required field is missing", field_path);
      }
      FL_RETURN_IF_ERROR(ExactPointer(value, field, field_path, state));
    }
  }
  return Status::Ok();
}

// As CopyStruct.
Status ExactStruct(capnp::AnyStruct::Reader in, const StructInfo& info, const JsonPath& path,
                   InPlace* state) {
  if (!info.maskable) {
    state->undecided = true;
    return Status::Ok();
  }
  Coverage covered(info);
  FL_RETURN_IF_ERROR(ExactFields(in, info.fields, path, &covered, state));
  if (info.type_union) {
    uint64_t which = LoadBits(in.getDataSection(), info.discriminant_offset, 16);
    if (which >= info.members.size()) {
      return Fail("unknown_type", "unknown event type", JsonPath{&path, kTypeKey});
    }
    const StructInfo::Member& member = info.members[which];
    const StructInfo& body_info = *member.body;
    if (!body_info.maskable || body_info.type_union) {  // the copy copies a body's fields only
      state->undecided = true;
      return Status::Ok();
    }
    covered.pointers |= uint64_t(1) << member.pointer;
    capnp::AnyPointer::Reader body_pointer = PointerAt(in, member.pointer);
    if (body_pointer.isNull()) state->second_form = true;  // the copy writes an empty body
    auto body = body_pointer.getAs<capnp::AnyStruct>();
    Coverage body_covered(body_info);
    FL_RETURN_IF_ERROR(ExactFields(body, body_info.fields, path, &body_covered, state));
    if (!OnlyCovered(body, body_info, body_covered) || !IsTrimmed(body)) {
      state->second_form = true;
    }
  }
  if (!OnlyCovered(in, info, covered)) state->second_form = true;
  return Status::Ok();
}

}  // namespace

std::string SnakeCase(std::string_view camel) {
  std::string out;
  out.reserve(camel.size() + 4);
  for (char c : camel) {
    if (c >= 'A' && c <= 'Z') {
      out.push_back('_');
      out.push_back(char(c - 'A' + 'a'));
    } else {
      out.push_back(c);
    }
  }
  return out;
}

Status ParseJson(std::string_view text, json* out) {
  return ParseJson(text, out, std::numeric_limits<size_t>::max());
}

namespace {

Status ParseWith(std::string_view text, json* out, size_t items_max,
                 const StrictSax::OnItem* on_item) {
  if (text.size() > kJsonDocumentBytesMax) {
    return Status::InvalidArgument(
        "json_malformed",
        "document larger than " + std::to_string(kJsonDocumentBytesMax) + " bytes");
  }
  StrictSax sax(out, items_max, on_item);
  bool ok = false;
  try {
    ok = json::sax_parse(text.begin(), text.end(), &sax, json::input_format_t::json,
                         /*strict=*/true, /*ignore_comments=*/false);
  } catch (const std::exception& e) {
    return Status::InvalidArgument("json_malformed", ToValidUtf8(e.what()));
  }
  if (!ok && sax.too_many_items()) {
    return Status::InvalidArgument("too_many_items", "the array holds " + sax.error());
  }
  if (!ok && sax.too_many_values()) return Status::InvalidArgument("too_many_values", sax.error());
  if (!ok) {
    // The parser quotes the bytes it stopped at, which may be invalid UTF-8 themselves.
    return Status::InvalidArgument("json_malformed",
                                   ToValidUtf8(sax.error().empty() ? "not JSON" : sax.error()));
  }
  return Status::Ok();
}

}  // namespace

Status ParseJson(std::string_view text, json* out, size_t items_max) {
  json parsed;
  FL_RETURN_IF_ERROR(ParseWith(text, &parsed, items_max, nullptr));
  *out = std::move(parsed);
  return Status::Ok();
}

Status ParseJsonEach(std::string_view text, size_t items_max,
                     const std::function<void(json&& item)>& on_item) {
  return ParseWith(text, nullptr, items_max, &on_item);
}

Status JsonToStruct(const json& in, DynamicStruct::Builder out) {
  if (!in.is_object()) return TypeError("", "object", in);
  try {
    return StructFromJson(in, out, "");
  } catch (const kj::Exception& e) {
    return Status::InvalidArgument("json_field_type", e.getDescription().cStr());
  }
}

Status StructToJson(DynamicStruct::Reader in, json* out) {
  try {
    FL_RETURN_IF_ERROR(StructToJsonAt(in, "", out));
    (void)out->dump();  // throws on invalid UTF-8 in a Text
  } catch (const kj::Exception& e) {
    return Status::InvalidArgument("capnp_malformed", e.getDescription().cStr());
  } catch (const json::exception& e) {
    return Status::InvalidArgument("json_field_type", e.what());
  }
  return Status::Ok();
}

Status CopyJsonForm(DynamicStruct::Reader in, DynamicStruct::Builder out) {
  try {
    if (const StructInfo* info = FindLedgerStruct(in.getSchema())) {
      return CopyStruct(in.as<capnp::AnyStruct>(), out.as<capnp::AnyStruct>(), *info, JsonPath{});
    }
    // A struct from outside the ledger schema: described for this call only.
    SchemaTable own;
    const StructInfo* info = AddStruct(in.getSchema(), &own);
    return CopyStruct(in.as<capnp::AnyStruct>(), out.as<capnp::AnyStruct>(), *info, JsonPath{});
  } catch (const kj::Exception& e) {
    return Status::InvalidArgument("capnp_malformed", e.getDescription().cStr());
  }
}

Status CheckJsonFormInPlace(DynamicStruct::Reader in, JsonFormVerdict* verdict) {
  *verdict = JsonFormVerdict::kUndecided;
  try {
    const StructInfo* info = FindLedgerStruct(in.getSchema());
    if (info == nullptr) return Status::Ok();
    InPlace state;
    auto root = in.as<capnp::AnyStruct>();
    Status s = ExactStruct(root, *info, JsonPath{}, &state);
    if (state.undecided) return Status::Ok();
    if (!IsTrimmed(root)) state.second_form = true;
    *verdict = state.second_form ? JsonFormVerdict::kSecondForm : JsonFormVerdict::kExact;
    return s;
  } catch (const kj::Exception& e) {
    *verdict = JsonFormVerdict::kExact;  // decided by the failure, as the copy would be
    return Status::InvalidArgument("capnp_malformed", e.getDescription().cStr());
  }
}

namespace {

// The length of the well-formed UTF-8 sequence at s[0..n) (n > 0), or 0 if there is none.
size_t Utf8SequenceLength(const uint8_t* s, size_t n) {
  uint8_t lead = s[0];
  if (lead < 0x80) return 1;
  // The lead byte fixes the length and the range of the second byte (table 3-7), which is
  // what excludes overlong forms (E0, F0), surrogates (ED) and code points past U+10FFFF (F4).
  size_t length = 0;
  uint8_t second_min = 0x80, second_max = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) second_min = 0xA0;
    if (lead == 0xED) second_max = 0x9F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) second_min = 0x90;
    if (lead == 0xF4) second_max = 0x8F;
  } else {
    return 0;  // a continuation byte, C0, C1 or F5..FF
  }
  if (n < length) return 0;
  if (s[1] < second_min || s[1] > second_max) return 0;
  for (size_t k = 2; k < length; ++k) {
    if ((s[k] & 0xC0) != 0x80) return 0;
  }
  return length;
}

}  // namespace

bool IsValidUtf8(std::string_view text) {
  const auto* s = reinterpret_cast<const uint8_t*>(text.data());
  for (size_t i = 0; i < text.size();) {
    size_t length = Utf8SequenceLength(s + i, text.size() - i);
    if (length == 0) return false;
    i += length;
  }
  return true;
}

std::string ToValidUtf8(std::string_view text) {
  if (IsValidUtf8(text)) return std::string(text);
  const auto* s = reinterpret_cast<const uint8_t*>(text.data());
  std::string out;
  for (size_t i = 0; i < text.size();) {
    size_t length = Utf8SequenceLength(s + i, text.size() - i);
    if (length == 0) {
      out += "\xEF\xBF\xBD";  // U+FFFD REPLACEMENT CHARACTER for one bad byte
      ++i;
    } else {
      out.append(text.substr(i, length));
      i += length;
    }
  }
  return out;
}

}  // namespace fundledger
