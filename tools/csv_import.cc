#include "tools/csv_import.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <fstream>
#include <iostream>

#include "api/submit.h"
#include "crypto/encoding.h"
#include "crypto/merkle.h"
#include "ledger/event.h"
#include "ledger/key_file.h"
#include "ledger/rules.h"
#include "replay/views.h"
#include "tools/cli_util.h"

namespace fundledger::cli {
namespace {

using nlohmann::json;
using Cell = ImportColumn::Cell;

// The columns of each kind: the fields of the event's schema struct (ledger/schema/event.capnp)
// after the four every event has. import_test checks these lists against the schema.
constexpr ImportColumn kReceiptColumns[] = {
    {"id", "id", Cell::kText, true},
    {"occurred_on", "occurred_on", Cell::kDate, true},
    {"doc_ref", "doc_ref", Cell::kText, false},
    {"memo", "memo", Cell::kText, false},
    {"to", "to", Cell::kText, true},
    {"to_kind", "to_kind", Cell::kEnum, true},
    {"category", "category", Cell::kEnum, true},
    {"source_org", "source_org", Cell::kText, true},
    {"channel", "channel", Cell::kEnum, true},
    {"amount_fen", "amount_fen", Cell::kAmountFen, true},
    {"amount_yuan", "amount_fen", Cell::kAmountYuan, true},
    {"pledge", "pledge", Cell::kText, false},
    {"households", "households", Cell::kCount, false},
    {"contributor_ref", "contributor_ref", Cell::kText, false},
};

constexpr ImportColumn kAllocationColumns[] = {
    {"id", "id", Cell::kText, true},
    {"occurred_on", "occurred_on", Cell::kDate, true},
    {"doc_ref", "doc_ref", Cell::kText, false},
    {"memo", "memo", Cell::kText, false},
    {"from", "from", Cell::kText, true},
    {"to", "to", Cell::kText, true},
    {"to_kind", "to_kind", Cell::kEnum, true},
    {"category", "category", Cell::kEnum, true},
    {"amount_fen", "amount_fen", Cell::kAmountFen, true},
    {"amount_yuan", "amount_fen", Cell::kAmountYuan, true},
};

constexpr ImportColumn kDisbursementColumns[] = {
    {"id", "id", Cell::kText, true},
    {"occurred_on", "occurred_on", Cell::kDate, true},
    {"doc_ref", "doc_ref", Cell::kText, false},
    {"memo", "memo", Cell::kText, false},
    {"project", "project", Cell::kText, true},
    {"category", "category", Cell::kEnum, true},
    {"amount_fen", "amount_fen", Cell::kAmountFen, true},
    {"amount_yuan", "amount_fen", Cell::kAmountYuan, true},
    {"payee_name", "payee.name", Cell::kText, true},
    {"payee_kind", "payee.kind", Cell::kEnum, true},
    {"payee_credit_code", "payee.credit_code", Cell::kText, false},
    {"payee_org", "payee.org", Cell::kText, false},
    {"work", "work", Cell::kEnum, true},
    {"item", "item", Cell::kText, true},
    {"units", "units", Cell::kCount, false},
    {"contract_ref", "contract_ref", Cell::kText, false},
    {"invoice_ref", "invoice_ref", Cell::kText, false},
};

// In the order of ImportKind.
constexpr std::array<std::string_view, 3> kKindNames = {"receipts", "allocations", "disbursements"};

bool IsAmount(const ImportColumn& column) {
  return column.cell == Cell::kAmountFen || column.cell == Cell::kAmountYuan;
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

enum class Number { kOk, kMalformed, kTooLarge };

// Digits, optionally grouped by thousands ("1,234,567"), then, if `decimals` > 0, optionally
// '.' and 1..`decimals` digits. The value is scaled by 10^decimals: "1,234.5" with 2 decimals is
// 123450. Above `max` (after scaling) is kTooLarge.
Number ParseGroupedDecimal(std::string_view text, size_t decimals, uint64_t max, uint64_t* out) {
  size_t dot = text.find('.');
  std::string_view whole = text.substr(0, dot);
  std::string_view fraction = dot == std::string_view::npos ? "" : text.substr(dot + 1);
  if (dot != std::string_view::npos && (fraction.empty() || fraction.size() > decimals)) {
    return Number::kMalformed;
  }
  uint64_t value = 0;
  bool too_large = false;
  size_t group_digits = 0;
  bool grouped = false;
  for (char c : whole) {
    if (c == ',') {
      // The first group has 1 to 3 digits, every later one exactly 3.
      if (group_digits == 0 || group_digits > 3 || (grouped && group_digits != 3)) {
        return Number::kMalformed;
      }
      grouped = true;
      group_digits = 0;
      continue;
    }
    if (!IsDigit(c)) return Number::kMalformed;
    ++group_digits;
    // `value` stays at most max * 10 + 9 here, far from overflow for any max below 10^17.
    if (!too_large) value = value * 10 + uint64_t(c - '0');
    too_large |= value > max;
  }
  if (group_digits == 0 || (grouped && group_digits != 3)) return Number::kMalformed;
  for (char c : fraction) {
    if (!IsDigit(c)) return Number::kMalformed;
  }
  for (size_t i = 0; i < decimals && !too_large; ++i) {
    value = value * 10 + (i < fraction.size() ? uint64_t(fraction[i] - '0') : 0);
    too_large |= value > max;
  }
  if (too_large) return Number::kTooLarge;
  *out = value;
  return Number::kOk;
}

Status AmountError(Number result, std::string_view field, std::string_view form) {
  if (result == Number::kTooLarge) {
    return Status::InvalidArgument(
        "amount_out_of_range",
        "at most " + std::to_string(kImportAmountFenMax) + " fen (10^12 yuan) per event", field);
  }
  return Status::InvalidArgument("bad_amount", std::string(form), field);
}

// Sets `value` at a codec path of at most two levels ("payee.name").
void SetField(json* event, std::string_view path, json value) {
  size_t dot = path.find('.');
  if (dot == std::string_view::npos) {
    (*event)[std::string(path)] = std::move(value);
  } else {
    (*event)[std::string(path.substr(0, dot))][std::string(path.substr(dot + 1))] =
        std::move(value);
  }
}

Status CellValue(const ImportColumn& column, const std::string& cell, json* value) {
  uint64_t number = 0;
  std::string date;
  switch (column.cell) {
    case Cell::kText:
    case Cell::kEnum:  // the codec knows the enumerants and names a wrong one
      *value = cell;
      return Status::Ok();
    case Cell::kDate:
      FL_RETURN_IF_ERROR(NormaliseDate(cell, column.field, &date));
      *value = date;
      return Status::Ok();
    case Cell::kCount:
      FL_RETURN_IF_ERROR(ParseCount(cell, column.field, &number));
      break;
    case Cell::kAmountFen:
      FL_RETURN_IF_ERROR(ParseAmountFen(cell, column.field, &number));
      break;
    case Cell::kAmountYuan:
      FL_RETURN_IF_ERROR(ParseAmountYuan(cell, column.field, &number));
      break;
  }
  *value = number;
  return Status::Ok();
}

Status HeaderError(std::string_view code, const std::string& message, size_t line, size_t column,
                   CsvPlace* where) {
  *where = {line, column};
  return Status::InvalidArgument(code, message);
}

std::string ColumnList(ImportKind kind) {
  std::string list;
  for (const auto& column : ImportColumns(kind)) {
    list += (list.empty() ? "" : ", ") + std::string(column.name);
  }
  return list;
}

// Finds the column of every header cell, then checks that the required ones are there.
Status MapHeader(ImportFile* file, CsvPlace* where) {
  std::span<const ImportColumn> known = ImportColumns(file->kind);
  const size_t line = file->header_line;
  const ImportColumn* amount = nullptr;
  for (size_t i = 0; i < file->header.size(); ++i) {
    const std::string& name = file->header[i];
    if (name.empty()) {
      return HeaderError("unnamed_column", "the header names no column here", line, i + 1, where);
    }
    auto it = std::find_if(known.begin(), known.end(),
                           [&](const ImportColumn& c) { return c.name == name; });
    if (it == known.end()) {
      return HeaderError("unknown_column",
                         "unknown column \"" + name + "\"; the columns of " +
                             std::string(kKindNames[size_t(file->kind)]) +
                             " are: " + ColumnList(file->kind),
                         line, i + 1, where);
    }
    if (std::find(file->columns.begin(), file->columns.end(), &*it) != file->columns.end()) {
      return HeaderError("duplicate_column", "column \"" + name + "\" appears twice", line, i + 1,
                         where);
    }
    if (IsAmount(*it) && amount != nullptr) {
      return HeaderError("amount_columns",
                         "both \"" + std::string(amount->name) + "\" and \"" + name +
                             "\"; give the amount in one of them",
                         line, i + 1, where);
    }
    if (IsAmount(*it)) amount = &*it;
    file->columns.push_back(&*it);
  }
  for (const auto& column : known) {
    if (!column.required || IsAmount(column)) continue;
    if (std::find(file->columns.begin(), file->columns.end(), &column) == file->columns.end()) {
      return HeaderError("missing_column",
                         "the header lacks column \"" + std::string(column.name) + "\"", line, 0,
                         where);
    }
  }
  if (amount == nullptr) {
    return HeaderError("missing_column",
                       "the header lacks the amount: column \"amount_fen\" or \"amount_yuan\"",
                       line, 0, where);
  }
  return Status::Ok();
}

// Spreadsheets save columns after the last named one that were once formatted or typed in: an
// empty header cell at the end of the header, and cells under it. Those columns are not read.
// A row with a value in one fails alone (`unnamed_column`, naming it); a row that ends before
// them is whole.
void DropTrailingUnnamedColumns(CsvTable* table) {
  std::vector<std::string>& header = table->header.cells;
  size_t named = header.size();
  while (named > 0 && header[named - 1].empty()) --named;
  if (named == header.size() || named == 0) return;  // none; or no header: MapHeader says so
  const size_t cells = header.size();
  header.resize(named);
  for (CsvRow& row : table->rows) {
    if (!row.error.ok() && row.error.code() != "csv_cell_count") continue;
    if (row.cells.size() > cells) continue;  // ReadCsv named its first cell past the header
    if (row.cells.size() < named) {
      row.place.column = row.cells.size() + 1;
      row.error = Status::InvalidArgument(
          "csv_cell_count", "the header names " + std::to_string(named) +
                                " columns, this row has " + std::to_string(row.cells.size()));
      continue;
    }
    auto value = std::find_if(row.cells.begin() + named, row.cells.end(),
                              [](const std::string& cell) { return !cell.empty(); });
    if (value != row.cells.end()) {
      row.place.column = size_t(value - row.cells.begin()) + 1;
      row.error = Status::InvalidArgument(
          "unnamed_column", "a value in a column the header does not name (it names " +
                                std::to_string(named) + " columns)");
      continue;
    }
    row.cells.resize(named);
    row.place.column = 0;
    row.error = Status::Ok();
  }
}

ImportRow MapRow(const ImportFile& file, const CsvRow& csv) {
  ImportRow row;
  row.line = csv.place.line;
  size_t id_column = file.ColumnOf("id");
  if (id_column != 0 && id_column <= csv.cells.size()) row.id = csv.cells[id_column - 1];
  if (!csv.error.ok()) {
    row.error = csv.error;
    row.column = csv.place.column;
    return row;
  }
  json event = {{"type", std::string(EventTypeOf(file.kind))}};
  for (size_t i = 0; i < csv.cells.size(); ++i) {
    const ImportColumn& column = *file.columns[i];
    const std::string& cell = csv.cells[i];
    json value;
    Status s;
    if (cell.empty()) {
      if (!column.required) continue;
      s = Status::InvalidArgument("missing_value", "this column needs a value in every row",
                                  column.field);
    } else {
      s = CellValue(column, cell, &value);
    }
    if (!s.ok()) {
      row.error = s;
      row.column = i + 1;
      return row;
    }
    SetField(&event, column.field, std::move(value));
  }
  row.event = std::move(event);
  return row;
}

void SetFailure(const ImportFile& file, const Status& status, size_t column, ImportResult* result) {
  result->status =
      (result->id.empty() || !status.event_id().empty()) ? status : status.WithEventId(result->id);
  result->column = column;
  // A ragged row's extra cell has a column number but no header name.
  result->column_name = column != 0 && column <= file.header.size() ? file.header[column - 1] : "";
}

// Whether `event`, refused as a duplicate or not appended, is recorded already: its id with the
// same signer and event, whatever key signed it (a row recorded before its signer's key was
// rotated comes back signed anew). Then `result` says so, as Append does for a resubmission.
Status FindRecorded(const Journal& journal, const SignedEvent& event, ImportResult* result,
                    bool* found) {
  *found = false;
  uint64_t seq = 0;
  Status s = journal.FindEvent(event.id(), &seq);
  if (s.IsNotFound()) return Status::Ok();
  FL_RETURN_IF_ERROR(s);
  std::string bytes;
  FL_RETURN_IF_ERROR(journal.ReadRecord(seq, &bytes));
  RecordReader record;
  FL_RETURN_IF_ERROR(RecordReader::Open(bytes, &record));
  SignedEvent original;
  if (!SignedEvent::FromRecordEnvelope(record, &original).ok()) {
    return Status::Corruption("record_malformed", "record " + std::to_string(seq));
  }
  auto a = original.canonical_event(), b = event.canonical_event();
  if (original.signer() != event.signer() || !std::equal(a.begin(), a.end(), b.begin(), b.end())) {
    return Status::Ok();
  }
  *found = true;
  result->status = Status::Ok();
  result->column = 0;
  result->column_name.clear();
  result->seq = seq;
  result->leaf_hash =
      MerkleLeafHash(std::span(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
  result->duplicate = true;
  return Status::Ok();
}

bool NotAppended(const ImportResult& result) {
  return result.status.code() == "batch_not_appended";
}

void PrintJson(const json& value) {
  std::cout << value.dump(-1, ' ', false, json::error_handler_t::replace) << "\n";
}

int Fail(const Status& status, int exit_code) {
  std::cerr << "fundledger: " << status.ToString() << "\n";
  return exit_code;
}

// An error of the whole file: nothing was appended.
int FailFile(const ImportArgs& args, const ImportFile& file, const Status& status,
             const CsvPlace& where) {
  std::string column_name =
      where.column != 0 && where.column <= file.header.size() ? file.header[where.column - 1] : "";
  if (args.format == "json") {
    json error = ErrorJson(status);
    error["line"] = where.line != 0 ? json(where.line) : json();
    error["column"] = where.column != 0 ? json(where.column) : json();
    error["column_name"] = column_name.empty() ? json() : json(column_name);
    PrintJson({{"error", error}});
  }
  std::string place;
  if (where.line != 0) place = "line " + std::to_string(where.line);
  if (where.column != 0) place += ", column " + std::to_string(where.column);
  if (!column_name.empty()) place += " (" + TerminalText(column_name) + ")";
  if (!place.empty()) place += ": ";
  std::cerr << "fundledger: " << args.input << ": " << place << TerminalText(status.ToString())
            << "; nothing appended\n";
  return kExitFailure;
}

}  // namespace

bool ParseImportKind(std::string_view name, ImportKind* kind) {
  for (size_t i = 0; i < kKindNames.size(); ++i) {
    if (kKindNames[i] == name) {
      *kind = ImportKind(i);
      return true;
    }
  }
  return false;
}

std::string_view EventTypeOf(ImportKind kind) {
  switch (kind) {
    case ImportKind::kReceipts:
      return "funds_received";
    case ImportKind::kAllocations:
      return "funds_allocated";
    case ImportKind::kDisbursements:
      return "funds_disbursed";
  }
  return "";
}

std::span<const ImportColumn> ImportColumns(ImportKind kind) {
  switch (kind) {
    case ImportKind::kReceipts:
      return kReceiptColumns;
    case ImportKind::kAllocations:
      return kAllocationColumns;
    case ImportKind::kDisbursements:
      return kDisbursementColumns;
  }
  return {};
}

namespace {

// A number's or a date's cell without the spaces around it: a quoted cell keeps them, and a
// spreadsheet's accounting format (会计专用) writes an amount as " 1,234.00 ".
std::string_view WithoutSpaces(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

}  // namespace

Status ParseAmountYuan(std::string_view text, std::string_view field, uint64_t* fen) {
  text = WithoutSpaces(text);
  Number result = ParseGroupedDecimal(text, 2, kImportAmountFenMax, fen);
  if (result == Number::kOk) return Status::Ok();
  return AmountError(result, field,
                     "an amount in yuan is digits with at most 2 decimals, thousands optionally "
                     "separated by commas: 1,234,567.89");
}

Status ParseAmountFen(std::string_view text, std::string_view field, uint64_t* fen) {
  text = WithoutSpaces(text);
  Number result = ParseGroupedDecimal(text, 0, kImportAmountFenMax, fen);
  if (result == Number::kOk) return Status::Ok();
  return AmountError(result, field,
                     "an amount in fen is a whole number, thousands optionally separated by "
                     "commas: 123,456,789");
}

Status ParseCount(std::string_view text, std::string_view field, uint64_t* count) {
  text = WithoutSpaces(text);
  switch (ParseGroupedDecimal(text, 0, kImportCountMax, count)) {
    case Number::kOk:
      return Status::Ok();
    case Number::kTooLarge:
      return Status::InvalidArgument("number_out_of_range",
                                     "at most " + std::to_string(kImportCountMax), field);
    case Number::kMalformed:
      break;
  }
  return Status::InvalidArgument("bad_number", "a whole number such as 120", field);
}

Status NormaliseDate(std::string_view text, std::string_view field, std::string* date) {
  auto bad = [&] {
    return Status::InvalidArgument("bad_date", "a date is YYYY-MM-DD or YYYY/M/D", field);
  };
  text = WithoutSpaces(text);
  // YYYY, a separator, 1-2 digits, the same separator, 1-2 digits.
  if (text.size() < 8 || text.size() > 10) return bad();
  char separator = text[4];
  if (separator != '-' && separator != '/') return bad();
  int parts[3] = {0, 0, 0};
  size_t part = 0, digits = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == separator && part < 2) {
      if (digits == 0 || (part == 0 && digits != 4)) return bad();
      ++part;
      digits = 0;
      continue;
    }
    if (!IsDigit(c) || ++digits > (part == 0 ? 4u : 2u)) return bad();
    parts[part] = parts[part] * 10 + (c - '0');
  }
  if (part != 2 || digits == 0) return bad();
  char buf[16];
  snprintf(buf, sizeof(buf), "%04d-%02d-%02d", parts[0], parts[1], parts[2]);
  int64_t days = 0;
  if (!ParseDate(buf, field, &days).ok()) return bad();  // not a day of the calendar
  *date = buf;
  return Status::Ok();
}

size_t ImportFile::ColumnOf(std::string_view field) const {
  if (field.empty()) return 0;
  for (size_t i = 0; i < columns.size(); ++i) {
    if (columns[i]->field == field) return i + 1;
  }
  // A parent path ("payee") is held by the first of its fields' columns.
  for (size_t i = 0; i < columns.size(); ++i) {
    std::string_view f = columns[i]->field;
    if (f.size() > field.size() && f.starts_with(field) && f[field.size()] == '.') return i + 1;
  }
  return 0;
}

Status ReadImportFile(std::string_view text, ImportKind kind, ImportFile* out, CsvPlace* where) {
  *out = ImportFile();
  out->kind = kind;
  if (text.size() > kImportFileBytesMax) {
    *where = {};
    return Status::InvalidArgument(
        "file_too_large", "a file holds at most " + std::to_string(kImportFileBytesMax) + " bytes");
  }
  CsvLimits limits;
  limits.rows_max = kImportRowsMax;
  CsvTable table;
  Status s = ReadCsv(text, limits, &table, where);
  out->header_line = table.header.place.line;
  out->header = table.header.cells;  // also on failure, to name the column of a file error
  FL_RETURN_IF_ERROR(s);
  DropTrailingUnnamedColumns(&table);
  out->header = table.header.cells;
  FL_RETURN_IF_ERROR(MapHeader(out, where));
  out->rows.reserve(table.rows.size());
  for (const auto& row : table.rows) out->rows.push_back(MapRow(*out, row));
  return Status::Ok();
}

Status ReadImportInput(const std::string& path, size_t bytes_max, std::string* out) {
  Status s = ReadInput(path, out, bytes_max);
  if (s.code() == "input_too_large") {
    return Status::InvalidArgument("file_too_large",
                                   "a file holds at most " + std::to_string(bytes_max) + " bytes");
  }
  return s;
}

Status AppendImport(Journal& journal, const ImportFile& file, std::string_view signer,
                    const KeyPair& key, const ImportOptions& options,
                    std::vector<ImportResult>* results) {
  // The rows are signed with the signer's current key, or none is appended: a row would be
  // refused, and a row recorded before would still be reported recorded, hiding a wrong key.
  const Org* org = journal.state().FindOrg(signer);
  if (org == nullptr) {
    return Status::Rejected(
        "signer_unknown", "no organisation " + std::string(signer) + " is registered in the ledger",
        "signer");
  }
  if (org->revoked()) {
    return Status::Rejected("signer_revoked", std::string(signer) + " is revoked", "signer");
  }
  if (org->current_key() != key.public_key()) {
    return Status::Rejected("key_not_current",
                            "the key is not " + std::string(signer) +
                                "'s current key (another org's, or one rotated since): no row "
                                "signed with it would be appended",
                            "key");
  }
  results->assign(file.rows.size(), ImportResult());
  std::vector<SignedEvent> events;
  std::vector<size_t> row_of_event;
  bool any_failed = false;
  uint64_t total = 2 * file.rows.size();
  auto progress = [&](uint64_t done) {
    if (options.progress) options.progress(done, total);
  };
  for (size_t i = 0; i < file.rows.size(); ++i) {
    if (i % 256 == 0) progress(i);
    const ImportRow& row = file.rows[i];
    ImportResult& result = (*results)[i];
    result.line = row.line;
    result.id = row.id;
    if (!row.error.ok()) {
      SetFailure(file, row.error, row.column, &result);
      any_failed = true;
      continue;
    }
    SignedEvent event;
    Status s = SignedEvent::Sign(row.event, signer, key, &event);
    if (!s.ok()) {
      SetFailure(file, s, file.ColumnOf(s.field()), &result);
      any_failed = true;
      continue;
    }
    events.push_back(std::move(event));
    row_of_event.push_back(i);
  }
  if (options.all_or_nothing) {
    // A row recorded by an earlier import stays recorded, and says so; the other rows are the
    // batch. (Append would say so too, but a row signed anew after a key rotation would be a
    // duplicate_id there and fail the batch.)
    size_t kept = 0;
    for (size_t k = 0; k < events.size(); ++k) {
      bool recorded = false;
      FL_RETURN_IF_ERROR(FindRecorded(journal, events[k], &(*results)[row_of_event[k]], &recorded));
      if (recorded) continue;
      if (kept != k) {
        events[kept] = std::move(events[k]);
        row_of_event[kept] = row_of_event[k];
      }
      ++kept;
    }
    events.resize(kept);
    row_of_event.resize(kept);
    if (any_failed) {
      for (size_t i : row_of_event) {
        SetFailure(
            file,
            Status::Rejected("batch_not_appended", "not appended: another row of the file failed"),
            0, &(*results)[i]);
      }
      return Status::Ok();
    }
  }
  total = file.rows.size() + events.size();
  progress(file.rows.size());
  if (events.empty()) return Status::Ok();
  // All or nothing is one batch; otherwise rows are independent and go in durable batches of
  // kImportBatchEvents, so that a long file shows its progress, each batch's sync overlapping
  // the next one's signature checks and sequencing (Journal::AppendInBatches).
  std::vector<AppendResult> appended;
  // A write or sync that fails stops the import. The operator needs to know what of the file may
  // be in the ledger, and what to do: a row recorded is kept once the ledger opens again (the
  // write-ahead log is replayed), and importing the same file again reports it as recorded.
  const std::string again =
      "; once the ledger opens again, importing the same file again is safe: a row already "
      "recorded is reported as such";
  if (options.all_or_nothing) {
    Status s = journal.Append(events, &appended, AppendOptions{.all_or_nothing = true});
    if (s.kind() == Status::Kind::kIOError) {
      return Status::IOError(s.code(), s.message() +
                                           ". The import stopped: the file's rows are "
                                           "one batch, recorded whole or not at all" +
                                           again);
    }
    FL_RETURN_IF_ERROR(s);  // not a failed write (a read-only ledger): as it is
    progress(total);
  } else {
    size_t written = 0;  // events in the batches written so far, in file order
    Status s = journal.AppendInBatches(events, kImportBatchEvents, &appended, [&](size_t w) {
      written = w;
      progress(file.rows.size() + w);
    });
    if (s.kind() == Status::Kind::kIOError) {
      const std::string where =
          written == 0
              ? "no row of the file was written before it"
              : "the rows up to line " + std::to_string(file.rows[row_of_event[written - 1]].line) +
                    " were written before it and may be recorded, the rows after them "
                    "are not";
      return Status::IOError(s.code(), s.message() + ". The import stopped: " + where + again);
    }
    FL_RETURN_IF_ERROR(s);
  }
  for (size_t k = 0; k < events.size(); ++k) {
    ImportResult& result = (*results)[row_of_event[k]];
    const AppendResult& r = appended[k];
    if (!r.status.ok()) {
      bool recorded = false;
      // A failed look-up leaves the row's own refusal: the rows appended keep their results.
      if (r.status.code() == "duplicate_id" &&
          !FindRecorded(journal, events[k], &result, &recorded).ok()) {
        recorded = false;
      }
      if (!recorded) SetFailure(file, r.status, file.ColumnOf(r.status.field()), &result);
      continue;
    }
    result.seq = r.seq;
    result.leaf_hash = r.leaf_hash;
    result.duplicate = r.duplicate;
  }
  return Status::Ok();
}

json ImportResultJson(const ImportResult& result) {
  json out = {{"line", result.line}, {"id", result.id.empty() ? json() : json(result.id)}};
  if (result.status.ok()) {
    out["seq"] = result.seq;
    out["leaf_hash"] = Base64Encode(result.leaf_hash);
    out["duplicate"] = result.duplicate;
    return out;
  }
  json error = ErrorJson(result.status);
  error["line"] = result.line;
  error["column"] = result.column != 0 ? json(result.column) : json();
  error["column_name"] = result.column_name.empty() ? json() : json(result.column_name);
  out["error"] = std::move(error);
  return out;
}

std::string ImportResultLine(const ImportResult& result) {
  std::string line = "line " + std::to_string(result.line) + "\t" + TerminalText(result.id) + "\t";
  if (result.status.ok()) {
    line += "seq " + std::to_string(result.seq);
    if (result.duplicate) line += " (already recorded)";
    return line;
  }
  line += "failed " + result.status.code();
  if (result.column != 0) line += " in column " + std::to_string(result.column);
  if (!result.column_name.empty()) line += " (" + TerminalText(result.column_name) + ")";
  return line + ": " + TerminalText(result.status.message());
}

std::string ImportSummaryLine(std::span<const ImportResult> results, bool all_or_nothing) {
  size_t appended = 0, duplicates = 0, failed = 0, not_appended = 0;
  for (const auto& r : results) {
    if (r.status.ok()) {
      ++(r.duplicate ? duplicates : appended);
    } else {
      ++(NotAppended(r) ? not_appended : failed);
    }
  }
  std::string line = std::to_string(results.size()) + " rows: " + std::to_string(appended) +
                     " appended, " + std::to_string(duplicates) + " already recorded, " +
                     std::to_string(failed) + " failed";
  if (not_appended != 0) line += ", " + std::to_string(not_appended) + " not appended";
  if (not_appended != 0 || (all_or_nothing && failed != 0)) {
    line += "; nothing appended (all or nothing)";
  }
  return line;
}

int Import(const ImportArgs& args) {
  ImportKind kind = ImportKind::kReceipts;
  if (!ParseImportKind(args.type, &kind)) {
    return Fail(Status::InvalidArgument("bad_type",
                                        "--type is receipts, allocations or "
                                        "disbursements"),
                kExitUsage);
  }
  NoteSigner key;
  Status s = ReadSecretKeyFile(args.key, &key);
  const std::string signer = args.signer.empty() ? key.name : args.signer;
  if (s.ok()) s = CheckIdChars(signer, "signer");
  if (!s.ok()) return Fail(s, kExitUsage);
  std::string text;
  ImportFile file;
  CsvPlace where;
  s = ReadImportInput(args.input, kImportFileBytesMax, &text);
  if (!s.ok() && s.code() != "file_too_large") return Fail(s, kExitUsage);
  if (s.ok()) s = ReadImportFile(text, kind, &file, &where);
  if (!s.ok()) return FailFile(args, file, s, where);

  Views views;  // before the journal, which uses it
  std::unique_ptr<Journal> journal;
  s = OpenWithViews(args.data, JournalOptions(), &views, &journal);
  std::vector<ImportResult> results;
  if (s.ok()) {
    Progress progress("importing");
    ImportOptions options;
    options.all_or_nothing = args.all_or_nothing;
    options.progress = [&](uint64_t done, uint64_t total) { progress.Update(done, total); };
    s = AppendImport(*journal, file, signer, key.key, options, &results);
  }
  if (!s.ok()) return Fail(s, kExitFailure);
  bool all_ok = true;
  for (const auto& r : results) {
    all_ok &= r.status.ok();
    if (args.format == "json") {
      PrintJson(ImportResultJson(r));
    } else {
      std::cout << ImportResultLine(r) << "\n";
    }
  }
  if (args.format != "json") std::cout << ImportSummaryLine(results, args.all_or_nothing) << "\n";
  return all_ok ? kExitOk : kExitFailure;
}

}  // namespace fundledger::cli
