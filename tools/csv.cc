#include "tools/csv.h"

#include <algorithm>

namespace fundledger {
namespace {

constexpr std::string_view kByteOrderMark = "\xEF\xBB\xBF";

bool IsBlank(char c) { return c == ' ' || c == '\t'; }

// Splits text into rows of cells, counting physical lines. Holds a view of the text, which must
// outlive it.
class RowReader {
 public:
  RowReader(std::string_view text, const CsvLimits& limits) : text_(text), limits_(limits) {
    if (text_.starts_with(kByteOrderMark)) pos_ = kByteOrderMark.size();
  }

  bool AtEnd() const { return pos_ >= text_.size(); }

  // Reads the row at the current position. A non-ok result spoils the whole file; `row->place`
  // then names where.
  // REQUIRES: !AtEnd().
  Status Read(CsvRow* row) {
    row->place = {line_, 0};
    row->cells.clear();
    row->error = Status::Ok();
    for (;;) {
      const CsvPlace cell_place{row->place.line, row->cells.size() + 1};
      if (row->cells.size() == limits_.columns_max) {
        row->place = cell_place;
        return Status::InvalidArgument(
            "csv_too_many_columns",
            "more than " + std::to_string(limits_.columns_max) + " columns");
      }
      std::string cell;
      SkipBlanks();
      if (pos_ < text_.size() && text_[pos_] == '"') {
        Status s = ReadQuoted(&cell);
        if (!s.ok()) {
          row->place = cell_place;
          return s;
        }
        SkipBlanks();
        if (!AtCellEnd()) {
          if (row->error.ok()) {
            row->place = cell_place;
            row->error = Status::InvalidArgument(
                "csv_bad_quote",
                "text after the closing quote; a quote inside a quoted cell is "
                "written twice (\"\")");
          }
          while (!AtCellEnd()) ++pos_;
        }
      } else {
        ReadUnquoted(&cell);
      }
      if (cell.size() > limits_.cell_bytes_max) {
        row->place = cell_place;
        return Status::InvalidArgument(
            "csv_cell_too_large", "a cell holds at most " + std::to_string(limits_.cell_bytes_max) +
                                      " bytes, this one " + std::to_string(cell.size()));
      }
      row->cells.push_back(std::move(cell));
      if (pos_ < text_.size() && text_[pos_] == ',') {
        ++pos_;
        continue;
      }
      SkipLineEnd();
      return Status::Ok();
    }
  }

 private:
  void SkipBlanks() {
    while (pos_ < text_.size() && IsBlank(text_[pos_])) ++pos_;
  }

  bool AtCellEnd() const {
    if (pos_ >= text_.size()) return true;
    char c = text_[pos_];
    return c == ',' || c == '\n' || c == '\r';
  }

  // Consumes one line end (CRLF, LF or CR) if there is one.
  void SkipLineEnd() {
    if (pos_ >= text_.size()) return;
    if (text_[pos_] == '\r') {
      ++pos_;
      if (pos_ < text_.size() && text_[pos_] == '\n') ++pos_;
      ++line_;
    } else if (text_[pos_] == '\n') {
      ++pos_;
      ++line_;
    }
  }

  void ReadUnquoted(std::string* cell) {
    size_t start = pos_;
    while (!AtCellEnd()) ++pos_;
    size_t end = pos_;
    while (end > start && IsBlank(text_[end - 1])) --end;
    cell->assign(text_.substr(start, end - start));
  }

  // REQUIRES: the current character is the opening quote.
  Status ReadQuoted(std::string* cell) {
    const size_t opened_on_line = line_;
    ++pos_;
    while (pos_ < text_.size()) {
      char c = text_[pos_];
      if (c == '"') {
        if (pos_ + 1 < text_.size() && text_[pos_ + 1] == '"') {
          cell->push_back('"');
          pos_ += 2;
          continue;
        }
        ++pos_;
        return Status::Ok();
      }
      if (c == '\r' || c == '\n') {
        // A line break inside a cell is stored as LF, whatever the file's line ends are.
        SkipLineEnd();
        cell->push_back('\n');
        continue;
      }
      cell->push_back(c);
      ++pos_;
    }
    return Status::InvalidArgument(
        "csv_unterminated_quote",
        "the quote opened on line " + std::to_string(opened_on_line) + " is never closed");
  }

  std::string_view text_;
  const CsvLimits& limits_;
  size_t pos_ = 0;
  size_t line_ = 1;
};

bool IsBlankRow(const CsvRow& row) {
  return std::all_of(row.cells.begin(), row.cells.end(),
                     [](const std::string& cell) { return cell.empty(); });
}

// Marks the row's first cell that is not valid UTF-8.
void CheckUtf8(CsvRow* row) {
  for (size_t i = 0; i < row->cells.size(); ++i) {
    size_t valid = ValidUtf8Prefix(row->cells[i]);
    if (valid == row->cells[i].size()) continue;
    row->place.column = i + 1;
    row->error = Status::InvalidArgument(
        "csv_bad_utf8",
        "invalid UTF-8 at byte " + std::to_string(valid + 1) +
            " of the cell: the file is in another encoding; save it as UTF-8 (\"CSV UTF-8\")");
    return;
  }
}

void CheckCellCount(size_t header_cells, CsvRow* row) {
  if (row->cells.size() == header_cells) return;
  // The first cell that is missing or too many.
  row->place.column = std::min(row->cells.size(), header_cells) + 1;
  row->error = Status::InvalidArgument(
      "csv_cell_count", "the header has " + std::to_string(header_cells) + " columns, this row " +
                            std::to_string(row->cells.size()));
}

}  // namespace

Status ReadCsv(std::string_view text, const CsvLimits& limits, CsvTable* out, CsvPlace* where) {
  out->header = CsvRow();
  out->rows.clear();
  RowReader reader(text, limits);
  bool have_header = false;
  while (!reader.AtEnd()) {
    CsvRow row;
    Status s = reader.Read(&row);
    if (!s.ok()) {
      *where = row.place;
      return s;
    }
    if (IsBlankRow(row)) continue;
    if (row.error.ok()) CheckUtf8(&row);
    if (row.error.code() == "csv_bad_utf8") {
      // Not one bad row: the file is in another encoding, and a cell of it that happens to read
      // as UTF-8 would be recorded as other characters.
      *where = row.place;
      return row.error;
    }
    if (!have_header) {
      if (!row.error.ok()) {
        *where = row.place;
        return row.error;
      }
      out->header = std::move(row);
      have_header = true;
      continue;
    }
    if (limits.rows_max != 0 && out->rows.size() == limits.rows_max) {
      *where = {row.place.line, 0};
      return Status::InvalidArgument("csv_too_many_rows",
                                     "more than " + std::to_string(limits.rows_max) + " rows");
    }
    if (row.error.ok()) CheckCellCount(out->header.cells.size(), &row);
    out->rows.push_back(std::move(row));
  }
  if (!have_header) {
    *where = {1, 0};
    return Status::InvalidArgument("csv_no_header", "the file has no header row");
  }
  return Status::Ok();
}

size_t ValidUtf8Prefix(std::string_view text) {
  size_t pos = 0;
  while (pos < text.size()) {
    uint8_t b = uint8_t(text[pos]);
    size_t length = 0;
    uint32_t code = 0, min = 0;
    if (b < 0x80) {
      ++pos;
      continue;
    } else if ((b & 0xE0) == 0xC0) {
      length = 2, code = b & 0x1F, min = 0x80;
    } else if ((b & 0xF0) == 0xE0) {
      length = 3, code = b & 0x0F, min = 0x800;
    } else if ((b & 0xF8) == 0xF0) {
      length = 4, code = b & 0x07, min = 0x10000;
    } else {
      return pos;
    }
    if (pos + length > text.size()) return pos;
    for (size_t i = 1; i < length; ++i) {
      uint8_t next = uint8_t(text[pos + i]);
      if ((next & 0xC0) != 0x80) return pos;
      code = (code << 6) | (next & 0x3F);
    }
    if (code < min || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) return pos;
    pos += length;
  }
  return pos;
}

}  // namespace fundledger
