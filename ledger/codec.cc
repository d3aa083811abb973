#include "ledger/codec.h"

#include <capnp/schema.h>
#include <kj/exception.h>

#include <limits>
#include <unordered_set>
#include <vector>

#include "crypto/encoding.h"

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

// Rejects duplicate keys and excessive depth while nlohmann parses.
class StrictParseGuard {
 public:
  bool operator()(int depth, json::parse_event_t event, json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start:
      case json::parse_event_t::array_start:
        if (size_t(depth) >= kJsonDepthMax) {
          error_ = "nesting deeper than " + std::to_string(kJsonDepthMax);
          throw std::runtime_error(error_);
        }
        keys_.emplace_back();
        return true;
      case json::parse_event_t::object_end:
      case json::parse_event_t::array_end:
        if (!keys_.empty()) keys_.pop_back();
        return true;
      case json::parse_event_t::key:
        if (!keys_.back().insert(parsed.get<std::string>()).second) {
          error_ = "duplicate key \"" + parsed.get<std::string>() + "\"";
          throw std::runtime_error(error_);
        }
        return true;
      default:
        return true;
    }
  }
  const std::string& error() const { return error_; }

 private:
  std::vector<std::unordered_set<std::string>> keys_;
  std::string error_;
};

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
  if (text.size() > kJsonDocumentBytesMax) {
    return Status::InvalidArgument(
        "json_malformed",
        "document larger than " + std::to_string(kJsonDocumentBytesMax) + " bytes");
  }
  auto guard = std::make_shared<StrictParseGuard>();
  try {
    *out = json::parse(
        text.begin(), text.end(),
        [guard](int depth, json::parse_event_t event, json& parsed) {
          return (*guard)(depth, event, parsed);
        },
        /*allow_exceptions=*/true, /*ignore_comments=*/false);
  } catch (const std::exception& e) {
    std::string why = guard->error().empty() ? e.what() : guard->error();
    return Status::InvalidArgument("json_malformed", why);
  }
  return Status::Ok();
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

}  // namespace fundledger
