// `fundledger import`: the rows of a spreadsheet saved as CSV become money events, signed with
// one key and appended to a ledger in one batch, with one result per row.
//
// The header row names the columns: the event's JSON field names (ledger/codec.h), the payee's
// fields flattened as payee_name, payee_kind, payee_credit_code and payee_org, and the amount
// as either amount_fen (whole fen) or amount_yuan (yuan with at most 2 decimals). The `type`
// comes from the command line, never from the file. Column order is free; an empty cell of an
// optional column means the field is absent. The CSV dialect is csv.h's.
//
// Errors are of two kinds:
//  - the file's: it cannot be read as a whole, breaks a limit, or its header is wrong (an
//    unknown, duplicate or missing column, both amount columns). Nothing is appended.
//  - a row's: a cell that does not parse, or an event the codec or a rule rejects. Each names
//    the row's line, and the column (number and header name) that holds the field at fault.
//    The other rows are appended, unless all or nothing was asked for.
//
// Thread safety: pure functions, except Import(), which runs the whole command.
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "crypto/ed25519.h"
#include "crypto/sha256.h"
#include "crypto/status.h"
#include "ledger/journal.h"
#include "tools/csv.h"

namespace fundledger::cli {

inline constexpr size_t kImportFileBytesMax = size_t(64) << 20;
inline constexpr size_t kImportRowsMax = kAppendBatchEventsMax;  // one append batch
inline constexpr size_t kImportBatchEvents = 1000;
// The largest amount of one event (DESIGN.md section 3); also keeps parsing free of overflow.
inline constexpr uint64_t kImportAmountFenMax = 100'000'000'000'000;  // 10^14
inline constexpr uint64_t kImportCountMax = UINT32_MAX;               // households, units

enum class ImportKind { kReceipts, kAllocations, kDisbursements };

// "receipts", "allocations", "disbursements". False for any other name.
bool ParseImportKind(std::string_view name, ImportKind* kind);
// The event type the rows become: "funds_received", "funds_allocated", "funds_disbursed".
std::string_view EventTypeOf(ImportKind kind);

// One column an import file may have.
struct ImportColumn {
  enum class Cell { kText, kEnum, kDate, kCount, kAmountFen, kAmountYuan };
  std::string_view name;   // in the header
  std::string_view field;  // the event field it fills, as a codec path: "payee.name"
  Cell cell;
  bool required;  // amount_fen and amount_yuan: one of the two is required
};
std::span<const ImportColumn> ImportColumns(ImportKind kind);

// Cell parsers. Exact integer arithmetic, never floating point. Errors are InvalidArgument
// naming `field`.
// Yuan: digits, optionally grouped by thousands with ',' ("1,234,567"), then optionally '.' and
// one or two digits. "1,234.5" is 123450 fen. "bad_amount" when malformed (a sign, an exponent,
// a misplaced separator, a third decimal), "amount_out_of_range" above kImportAmountFenMax.
Status ParseAmountYuan(std::string_view text, std::string_view field, uint64_t* fen);
// Whole fen: digits, optionally grouped by thousands. Errors as ParseAmountYuan.
Status ParseAmountFen(std::string_view text, std::string_view field, uint64_t* fen);
// A count: digits, at most kImportCountMax. "bad_number", "number_out_of_range".
Status ParseCount(std::string_view text, std::string_view field, uint64_t* count);
// "YYYY-MM-DD" or "YYYY/M/D" (one or two digits for month and day, either separator used
// twice) to "YYYY-MM-DD", checked against the calendar. "bad_date".
Status NormaliseDate(std::string_view text, std::string_view field, std::string* date);

// A file read and mapped to bare events; nothing signed yet.
struct ImportRow {
  size_t line = 0;       // the physical line where the row starts
  std::string id;        // the id cell, as written (possibly empty)
  nlohmann::json event;  // the bare event, when `error` is ok
  Status error;          // ok, or why the row cannot become an event
  size_t column = 0;     // the 1-based column of `error`; 0 when none is at fault
};

struct ImportFile {
  ImportKind kind = ImportKind::kReceipts;
  size_t header_line = 0;
  std::vector<std::string> header;           // the column names, in file order
  std::vector<const ImportColumn*> columns;  // the column of each header cell
  std::vector<ImportRow> rows;

  // The 1-based column of the file holding the event field `field` (a Status::field() path such
  // as "amount_fen" or "payee.credit_code", or a parent of one such as "payee"); 0 if none.
  size_t ColumnOf(std::string_view field) const;
};

// Reads `text` as an import file of `kind`. Returns InvalidArgument for errors of the file, with
// their place in `*where` (column 0: no single column): the errors of ReadCsv, "file_too_large",
// "unknown_column", "duplicate_column", "missing_column", "unnamed_column", "amount_columns"
// (both amount_fen and amount_yuan). On success each row holds its event or its error.
Status ReadImportFile(std::string_view text, ImportKind kind, ImportFile* out, CsvPlace* where);

// Reads a file, or standard input for "-", of at most `bytes_max` bytes. InvalidArgument
// "input_unreadable", or "file_too_large".
Status ReadImportInput(const std::string& path, size_t bytes_max, std::string* out);

// What became of one row.
struct ImportResult {
  size_t line = 0;
  std::string id;
  Status status;            // ok: appended, or already recorded with the same content
  size_t column = 0;        // when failed: the 1-based column at fault, 0 when none
  std::string column_name;  // its header name
  uint64_t seq = 0;         // when ok
  Hash leaf_hash{};         // when ok
  bool duplicate = false;   // when ok: recorded before; seq is the original's
};

struct ImportOptions {
  // Append no row unless every row is good. Rows that were fine then fail with
  // "batch_not_appended".
  bool all_or_nothing = false;
  // Called now and then with (steps done, steps in all): a step is a row signed or an event
  // appended, so the total is rows + events.
  std::function<void(uint64_t, uint64_t)> progress;
};

// Signs every row of `file` that became an event as `signer` with `key`, and appends them in
// order: as one batch with all_or_nothing, else in durable batches of kImportBatchEvents
// (Journal::AppendInBatches). `results` gets one entry per row. Returns non-ok only if a batch
// could not be written or synced; then `results` is meaningless, the ledger holds the file's
// batches up to some point, each whole (`log` shows which; after a failed write or sync, once
// the ledger is opened again), and importing the same file again is safe (a resubmitted id with
// the same content returns its original result).
// REQUIRES: file.rows.size() <= kImportRowsMax.
Status AppendImport(Journal& journal, const ImportFile& file, std::string_view signer,
                    const KeyPair& key, const ImportOptions& options,
                    std::vector<ImportResult>* results);

// {"line", "id", "seq", "leaf_hash", "duplicate"}, or {"line", "id", "error": {"code",
// "message", "event_id", "field", "line", "column", "column_name"}}.
nlohmann::json ImportResultJson(const ImportResult& result);
// One readable line per row, and the final count ("3 rows: 2 appended, 1 already recorded, 0
// failed").
std::string ImportResultLine(const ImportResult& result);
std::string ImportSummaryLine(std::span<const ImportResult> results, bool all_or_nothing);

struct ImportArgs {
  std::string data;
  std::string key;
  std::string signer;  // default: the key's name
  std::string type;    // "receipts", "allocations" or "disbursements"
  bool all_or_nothing = false;
  std::string format = "table";  // or "json"
  std::string input = "-";
};

// Runs `fundledger import` and returns its exit status: 0 every row appended or already
// recorded, 1 a row or the file failed (or the ledger could not be opened), 2 bad usage (the key,
// the signer, an unreadable input).
int Import(const ImportArgs& args);

}  // namespace fundledger::cli
