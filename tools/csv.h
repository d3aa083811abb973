// A CSV reader for files saved by spreadsheets (RFC 4180 and what spreadsheets really write).
//
// Accepted: UTF-8 with or without a byte order mark; CRLF, LF or CR line ends; fields quoted
// with '"' holding commas, doubled quotes and line breaks (a CRLF or CR inside quotes becomes
// LF); spaces and tabs around an unquoted field, or around a quoted one, are dropped. Rows whose
// every cell is empty (blank lines, and the ",,," rows spreadsheets leave behind) are skipped.
// The first row that is not skipped is the header.
//
// Positions are 1-based, and travel beside a Status (CsvPlace) rather than inside its message,
// so that a caller can also name the column by its header. A row's `line` is the physical line on
// which it starts, counting every line end, including those inside quoted fields, so that an
// editor's line numbers match.
//
// Thread safety: pure functions.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "crypto/status.h"

namespace fundledger {

inline constexpr size_t kCsvCellBytesMax = 4096;
inline constexpr size_t kCsvColumnsMax = 64;

struct CsvLimits {
  size_t cell_bytes_max = kCsvCellBytesMax;
  size_t columns_max = kCsvColumnsMax;
  size_t rows_max = 0;  // data rows, the header excluded; 0: no limit
};

// Where something is in the file. `column` 0 means the row as a whole.
struct CsvPlace {
  size_t line = 0;
  size_t column = 0;
};

struct CsvRow {
  CsvPlace place;  // place.column is 0 unless `error` names a cell
  std::vector<std::string> cells;
  // Ok, or why this row cannot be used while the others can (InvalidArgument):
  // "csv_cell_count" (not as many cells as the header), "csv_bad_quote" (text after a closing
  // quote).
  Status error;
};

struct CsvTable {
  CsvRow header;
  std::vector<CsvRow> rows;
};

// Reads a whole file. Returns InvalidArgument, with the place in `*where`, for what spoils the
// whole file: "csv_no_header" (no row at all), "csv_unterminated_quote", "csv_cell_too_large",
// "csv_too_many_columns", "csv_too_many_rows", "csv_bad_utf8" (a cell anywhere that is not
// UTF-8: the file was saved in another encoding, GB18030 as Chinese spreadsheets save "CSV",
// and some of its other cells may read as UTF-8 of other characters), and any error of the
// header row. On success every
// row of `out` holds as many cells as the header unless the row's `error` says otherwise.
Status ReadCsv(std::string_view text, const CsvLimits& limits, CsvTable* out, CsvPlace* where);

// The length of the longest valid UTF-8 prefix of `text` (strict: no overlong forms, no
// surrogates, nothing above U+10FFFF). Equals text.size() when all of it is valid.
size_t ValidUtf8Prefix(std::string_view text);

}  // namespace fundledger
