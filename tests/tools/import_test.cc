// `fundledger import`: the CSV reader on what spreadsheets write, the cell parsers (exact
// amounts, dates), the mapping of columns to event fields, and the binary run on a real ledger.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <capnp/schema.h>

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "crypto/encoding.h"
#include "crypto/note.h"
#include "ledger/codec.h"
#include "ledger/event.h"
#include "ledger/journal.h"
#include "ledger/key_file.h"
#include "tests/tools/test_dir.h"
#include "tools/cli_util.h"
#include "tools/csv.h"
#include "tools/csv_import.h"

namespace fundledger {
namespace {

using nlohmann::json;
using test::CliResult;
using test::JsonLines;
using test::ReadFile;
using test::TestDir;
using test::WriteFile;

// ---- the CSV reader ----

CsvTable ReadOk(std::string_view text, const CsvLimits& limits = CsvLimits()) {
  CsvTable table;
  CsvPlace where;
  Status s = ReadCsv(text, limits, &table, &where);
  EXPECT_TRUE(s.ok()) << s.ToString() << " at line " << where.line << ", column " << where.column;
  return table;
}

struct FileError {
  std::string code;
  size_t line = 0;
  size_t column = 0;
};

FileError ReadFails(std::string_view text, const CsvLimits& limits = CsvLimits()) {
  CsvTable table;
  CsvPlace where;
  Status s = ReadCsv(text, limits, &table, &where);
  EXPECT_FALSE(s.ok()) << "read without error: " << ::testing::PrintToString(std::string(text));
  return {s.code(), where.line, where.column};
}

using Cells = std::vector<std::string>;

TEST(CsvReaderTest, ReadsRowsWithThePhysicalLineWhereEachStarts) {
  CsvTable t = ReadOk("a,b,c\n1,2,3\n4,5,6");  // no line end after the last row
  EXPECT_EQ(t.header.cells, (Cells{"a", "b", "c"}));
  EXPECT_EQ(t.header.place.line, 1u);
  ASSERT_EQ(t.rows.size(), 2u);
  EXPECT_EQ(t.rows[0].cells, (Cells{"1", "2", "3"}));
  EXPECT_EQ(t.rows[0].place.line, 2u);
  EXPECT_EQ(t.rows[1].cells, (Cells{"4", "5", "6"}));
  EXPECT_EQ(t.rows[1].place.line, 3u);
  EXPECT_TRUE(t.rows[1].error.ok());
}

TEST(CsvReaderTest, ByteOrderMarkAndEveryLineEndAreAccepted) {
  for (std::string end : {"\n", "\r\n", "\r"}) {
    std::string text = "\xEF\xBB\xBFid,memo" + end + "r1,甲" + end + "r2,乙" + end;
    CsvTable t = ReadOk(text);
    EXPECT_EQ(t.header.cells, (Cells{"id", "memo"})) << "the mark is not part of the first name";
    ASSERT_EQ(t.rows.size(), 2u);
    EXPECT_EQ(t.rows[0].cells, (Cells{"r1", "甲"}));
    EXPECT_EQ(t.rows[1].cells, (Cells{"r2", "乙"})) << "no CR may be left in a cell";
    EXPECT_EQ(t.rows[1].place.line, 3u);
  }
  // A mark anywhere else is text.
  EXPECT_EQ(ReadOk("id\n\xEF\xBB\xBFr1\n").rows.at(0).cells[0], "\xEF\xBB\xBFr1");
}

TEST(CsvReaderTest, QuotedCellsHoldCommasQuotesAndLineBreaks) {
  CsvTable t = ReadOk(
      "id,memo,amount\r\n"
      "r1,\"第一批,市级\",\"1,234.50\"\r\n"
      "r2,\"他说\"\"好\"\"\",1\r\n"
      "r3,\"两行\r\n第二行\",2\r\n"
      "r4,\"\",3\r\n");
  ASSERT_EQ(t.rows.size(), 4u);
  EXPECT_EQ(t.rows[0].cells, (Cells{"r1", "第一批,市级", "1,234.50"}));
  EXPECT_EQ(t.rows[1].cells, (Cells{"r2", "他说\"好\"", "1"}));
  EXPECT_EQ(t.rows[2].cells, (Cells{"r3", "两行\n第二行", "2"})) << "CRLF inside quotes is LF";
  EXPECT_EQ(t.rows[2].place.line, 4u);
  EXPECT_EQ(t.rows[3].place.line, 6u) << "the line break inside r3 counts";
  EXPECT_EQ(t.rows[3].cells[1], "");
}

TEST(CsvReaderTest, SpacesAroundUnquotedCellsAreTrimmedButNotInsideQuotes) {
  CsvTable t = ReadOk("a,b,c\n  x y \t, \" padded \" ,\tz\n");
  ASSERT_EQ(t.rows.size(), 1u);
  EXPECT_EQ(t.rows[0].cells, (Cells{"x y", " padded ", "z"}));
}

TEST(CsvReaderTest, BlankLinesAndRowsOfEmptyCellsAreSkipped) {
  CsvTable t = ReadOk("\n\r\n  \nid,memo\n\nr1,a\n,\n \t, \"\" \nr2,b\n\n");
  EXPECT_EQ(t.header.place.line, 4u);
  ASSERT_EQ(t.rows.size(), 2u);
  EXPECT_EQ(t.rows[0].place.line, 6u);
  EXPECT_EQ(t.rows[1].place.line, 9u);
  EXPECT_EQ(ReadFails("").code, "csv_no_header");
  EXPECT_EQ(ReadFails("\n\r\n,,\n").code, "csv_no_header");
  EXPECT_EQ(ReadFails("\xEF\xBB\xBF").code, "csv_no_header");
}

TEST(CsvReaderTest, InvalidUtf8AnywhereIsAnErrorOfTheFileNamingLineAndColumn) {
  const std::vector<std::string> bad = {
      "\xFF",              // never a UTF-8 byte
      "\xC3",              // truncated
      "\xC0\xAF",          // overlong '/'
      "\xED\xA0\x80",      // a surrogate
      "\xF4\x90\x80\x80",  // above U+10FFFF
      "GB18030 \xB2\xC6",  // 财 in GB18030, as a spreadsheet saved in the old encoding would
  };
  // A file in another encoding has rows whose cells all read as UTF-8 (ASCII ones, and some of
  // its Chinese ones read as other characters): the first cell that does not spoils the file.
  for (const auto& cell : bad) {
    FileError e =
        ReadFails("id,name,memo\nr1,好,ok\nr2,ok,\"两\n行\"\nr3,ok," + cell + "\nr4,a,b\n");
    EXPECT_EQ(e.code, "csv_bad_utf8") << ::testing::PrintToString(cell);
    EXPECT_EQ(e.line, 5u);
    EXPECT_EQ(e.column, 3u);
  }
  FileError e = ReadFails("id,n\xFF\nr1,a\n");
  EXPECT_EQ(e.code, "csv_bad_utf8");
  EXPECT_EQ(e.line, 1u);
  EXPECT_EQ(e.column, 2u);
}

TEST(CsvReaderTest, ValidUtf8PrefixStopsAtTheFirstBadByte) {
  EXPECT_EQ(ValidUtf8Prefix("湘潭市财政局"), std::string("湘潭市财政局").size());
  EXPECT_EQ(ValidUtf8Prefix("\xF0\x9F\x98\x80"), 4u);  // outside the BMP
  EXPECT_EQ(ValidUtf8Prefix("ab\xE6\xB9"), 2u);
  EXPECT_EQ(ValidUtf8Prefix("a\x80"), 1u);
  EXPECT_EQ(ValidUtf8Prefix(""), 0u);
}

TEST(CsvReaderTest, AnUnterminatedQuoteSpoilsTheFileAtItsRow) {
  FileError e = ReadFails("id,memo\nr1,a\nr2,\"never closed\nr3,b\nr4,c\n");
  EXPECT_EQ(e.code, "csv_unterminated_quote");
  EXPECT_EQ(e.line, 3u);
  EXPECT_EQ(e.column, 2u);
}

TEST(CsvReaderTest, TextAfterAClosingQuoteIsARowError) {
  CsvTable t = ReadOk("id,memo,n\nr1,\"a\"b,1\nr2,c,2\n");
  ASSERT_EQ(t.rows.size(), 2u);
  EXPECT_EQ(t.rows[0].error.code(), "csv_bad_quote");
  EXPECT_EQ(t.rows[0].place.column, 2u);
  EXPECT_EQ(t.rows[0].cells.size(), 3u) << "the reader finds the next cell again";
  EXPECT_TRUE(t.rows[1].error.ok());
}

TEST(CsvReaderTest, RaggedRowsAreRowErrorsAtTheFirstMissingOrExtraCell) {
  CsvTable t = ReadOk("a,b,c\n1,2\n1,2,3,4\n1,2,3\n\"x\ny\",2\n");
  ASSERT_EQ(t.rows.size(), 4u);
  EXPECT_EQ(t.rows[0].error.code(), "csv_cell_count");
  EXPECT_EQ(t.rows[0].place.column, 3u);
  EXPECT_EQ(t.rows[1].error.code(), "csv_cell_count");
  EXPECT_EQ(t.rows[1].place.column, 4u);
  EXPECT_TRUE(t.rows[2].error.ok());
  EXPECT_EQ(t.rows[3].error.code(), "csv_cell_count");
  EXPECT_EQ(t.rows[3].place.line, 5u);
}

TEST(CsvReaderTest, LimitsSpoilTheFile) {
  CsvLimits limits;
  limits.rows_max = 3;
  // Cell bytes: the limit itself passes, one more byte fails, quoted or not.
  std::string full(kCsvCellBytesMax, 'x');
  EXPECT_EQ(ReadOk("a,b\n1," + full + "\n").rows.at(0).cells[1].size(), kCsvCellBytesMax);
  FileError e = ReadFails("a,b\n1,2\n1," + full + "y\n");
  EXPECT_EQ(e.code, "csv_cell_too_large");
  EXPECT_EQ(e.line, 3u);
  EXPECT_EQ(e.column, 2u);
  EXPECT_EQ(ReadFails("a\n\"" + full + "\"\"\"\n").code, "csv_cell_too_large");
  // Columns.
  std::string row;
  for (size_t i = 0; i < kCsvColumnsMax; ++i) row += (i ? "," : "") + std::to_string(i);
  EXPECT_EQ(ReadOk(row + "\n" + row + "\n").header.cells.size(), kCsvColumnsMax);
  e = ReadFails(row + "\n" + row + ",extra\n");
  EXPECT_EQ(e.code, "csv_too_many_columns");
  EXPECT_EQ(e.line, 2u);
  EXPECT_EQ(e.column, kCsvColumnsMax + 1);
  // Rows, the header and skipped rows not counted.
  EXPECT_EQ(ReadOk("a\n1\n\n2\n,\n3\n", limits).rows.size(), 3u);
  e = ReadFails("a\n1\n2\n3\n4\n", limits);
  EXPECT_EQ(e.code, "csv_too_many_rows");
  EXPECT_EQ(e.line, 5u);
}

// ---- cell parsers ----

TEST(ImportCellTest, AmountsInYuanAreExact) {
  const std::map<std::string, uint64_t> good = {
      {"1,234.5", 123450},
      {"1,234,567.89", 123456789},
      {"1234567.89", 123456789},
      {"0.01", 1},
      {"0.1", 10},
      {"12", 1200},
      {"0", 0},  // the ledger's rule, not the parser, refuses an amount of nothing
      {"999,999,999,999.99", 99999999999999},
      {"1,000,000,000,000", 100000000000000},  // 10^14 fen, the largest
      {"1000000000000.00", 100000000000000},
      // Binary floating point would get these wrong.
      {"0.29", 29},
      {"1.15", 115},
      // A quoted cell of a spreadsheet's accounting format keeps the spaces around it.
      {" 1,234.00 ", 123400},
      {"\t12\t", 1200},
  };
  for (const auto& [text, fen] : good) {
    uint64_t got = 0;
    Status s = cli::ParseAmountYuan(text, "amount_fen", &got);
    ASSERT_TRUE(s.ok()) << text << ": " << s.ToString();
    EXPECT_EQ(got, fen) << text;
  }
  const std::vector<std::string> malformed = {
      "0.001",  "1.234", "-5",   "+5",     "1e5",   "1E5",  "12,34",     "1,2345", "1234,567",
      "1,,234", ",123",  "123,", "1,234,", "1.",    ".5",   ".",         "",       "1 234",
      "１２",   "¥12",   "12元", "0x10",   "1.2.3", "12.a", "1,234.5,6", "NaN",    "inf",
  };
  for (const auto& text : malformed) {
    uint64_t got = 7;
    Status s = cli::ParseAmountYuan(text, "amount_fen", &got);
    EXPECT_EQ(s.code(), "bad_amount") << ::testing::PrintToString(text);
    EXPECT_EQ(s.field(), "amount_fen");
    EXPECT_EQ(got, 7u) << "a refused amount leaves the output alone";
  }
  for (const std::string text : {"1,000,000,000,000.01", "1000000000001",
                                 "99999999999999999999999999", "18446744073709551616"}) {
    uint64_t got = 0;
    EXPECT_EQ(cli::ParseAmountYuan(text, "amount_fen", &got).code(), "amount_out_of_range") << text;
  }
}

TEST(ImportCellTest, AmountsInFenAreWholeNumbers) {
  uint64_t fen = 0;
  ASSERT_TRUE(cli::ParseAmountFen("123456789", "amount_fen", &fen).ok());
  EXPECT_EQ(fen, 123456789u);
  ASSERT_TRUE(cli::ParseAmountFen("400,000,000", "amount_fen", &fen).ok());
  EXPECT_EQ(fen, 400000000u);
  ASSERT_TRUE(cli::ParseAmountFen(" 400,000,001 ", "amount_fen", &fen).ok());
  EXPECT_EQ(fen, 400000001u);
  ASSERT_TRUE(cli::ParseAmountFen("100000000000000", "amount_fen", &fen).ok());
  EXPECT_EQ(fen, cli::kImportAmountFenMax);
  EXPECT_EQ(cli::ParseAmountFen("100000000000001", "amount_fen", &fen).code(),
            "amount_out_of_range");
  for (std::string text : {"1.5", "1.00", "-1", "12,34", "1e3", ""}) {
    EXPECT_EQ(cli::ParseAmountFen(text, "amount_fen", &fen).code(), "bad_amount") << text;
  }
}

TEST(ImportCellTest, CountsAreBoundedWholeNumbers) {
  uint64_t n = 0;
  ASSERT_TRUE(cli::ParseCount("480", "households", &n).ok());
  EXPECT_EQ(n, 480u);
  ASSERT_TRUE(cli::ParseCount(" 481 ", "households", &n).ok());
  EXPECT_EQ(n, 481u);
  ASSERT_TRUE(cli::ParseCount("4294967295", "households", &n).ok());
  EXPECT_EQ(cli::ParseCount("4294967296", "households", &n).code(), "number_out_of_range");
  for (std::string text : {"-1", "1.5", "12a", "三"}) {
    Status s = cli::ParseCount(text, "units", &n);
    EXPECT_EQ(s.code(), "bad_number") << text;
    EXPECT_EQ(s.field(), "units");
  }
}

TEST(ImportCellTest, DatesAreNormalisedAndCheckedAgainstTheCalendar) {
  const std::map<std::string, std::string> good = {
      {"2024-03-15", "2024-03-15"}, {"2024/3/5", "2024-03-05"},   {"2024/03/15", "2024-03-15"},
      {"2024/12/31", "2024-12-31"}, {"2024-3-5", "2024-03-05"},   {"2024/2/29", "2024-02-29"},
      {"2000/1/1", "2000-01-01"},   {" 2024/3/5 ", "2024-03-05"},
  };
  for (const auto& [text, want] : good) {
    std::string date;
    Status s = cli::NormaliseDate(text, "occurred_on", &date);
    ASSERT_TRUE(s.ok()) << text << ": " << s.ToString();
    EXPECT_EQ(date, want);
  }
  for (std::string text :
       {"2023/2/29", "2024/2/30", "2024/13/1", "2024/0/1", "2024/1/0", "24/3/5", "2024.3.5",
        "2024-03/15", "2024/3/5 0:00", "20240315", "2024-003-01", "2024//5", "2024/3/", "",
        "15/03/2024", "２０２４/3/5", "2024年3月5日"}) {
    std::string date = "unchanged";
    Status s = cli::NormaliseDate(text, "occurred_on", &date);
    EXPECT_EQ(s.code(), "bad_date") << text;
    EXPECT_EQ(s.field(), "occurred_on");
    EXPECT_EQ(date, "unchanged");
  }
}

// ---- columns and rows ----

// Column names the schema gives each kind: the event's common fields, the body's fields, and a
// struct's fields as <struct>_<field>.
std::set<std::string> SchemaColumns(capnp::StructSchema body) {
  std::set<std::string> names;
  for (auto field : capnp::Schema::from<schema::Event>().getNonUnionFields()) {
    names.insert(SnakeCase(field.getProto().getName().cStr()));
  }
  for (auto field : body.getFields()) {
    std::string name = SnakeCase(field.getProto().getName().cStr());
    if (field.getType().isStruct() && !field.getProto().isGroup()) {
      for (auto sub : field.getType().asStruct().getFields()) {
        names.insert(name + "_" + SnakeCase(sub.getProto().getName().cStr()));
      }
    } else {
      names.insert(name);
    }
  }
  return names;
}

// A cell every column accepts.
std::string SampleCell(const cli::ImportColumn& column) {
  static const std::map<std::string_view, std::string> enums = {{"to_kind", "pool"},
                                                                {"category", "central"},
                                                                {"channel", "transfer"},
                                                                {"payee_kind", "contractor"},
                                                                {"work", "basic"}};
  switch (column.cell) {
    case cli::ImportColumn::Cell::kEnum:
      return enums.at(column.name);
    case cli::ImportColumn::Cell::kDate:
      return "2024/3/15";
    case cli::ImportColumn::Cell::kCount:
      return "3";
    case cli::ImportColumn::Cell::kAmountFen:
    case cli::ImportColumn::Cell::kAmountYuan:
      return "100";
    case cli::ImportColumn::Cell::kText:
      break;
  }
  return column.name == "id" ? "e-1" : "t-" + std::string(column.name);
}

// A file of one row with every column of `kind` but `skip` (and amount_yuan).
std::string SampleFile(cli::ImportKind kind, std::string_view skip = "") {
  std::string header, row;
  for (const auto& column : cli::ImportColumns(kind)) {
    if (column.name == skip || column.name == "amount_yuan") continue;
    header += (header.empty() ? "" : ",") + std::string(column.name);
    row += (row.empty() ? "" : ",") + SampleCell(column);
  }
  return header + "\n" + row + "\n";
}

const std::map<cli::ImportKind, capnp::StructSchema> kBodies = {
    {cli::ImportKind::kReceipts, capnp::Schema::from<schema::FundsReceived>()},
    {cli::ImportKind::kAllocations, capnp::Schema::from<schema::FundsAllocated>()},
    {cli::ImportKind::kDisbursements, capnp::Schema::from<schema::FundsDisbursed>()},
};

TEST(ImportFileTest, ColumnsAreTheSchemaFieldsAndRequiredAsTheCodecRequiresThem) {
  KeyPair key = KeyPair::Generate();
  for (const auto& [kind, body] : kBodies) {
    std::set<std::string> columns;
    for (const auto& column : cli::ImportColumns(kind)) {
      if (column.name != "amount_yuan") columns.insert(std::string(column.name));
    }
    EXPECT_EQ(columns, SchemaColumns(body)) << cli::EventTypeOf(kind);

    cli::ImportFile file;
    CsvPlace where;
    Status s = cli::ReadImportFile(SampleFile(kind), kind, &file, &where);
    ASSERT_TRUE(s.ok()) << s.ToString();
    ASSERT_EQ(file.rows.size(), 1u);
    ASSERT_TRUE(file.rows[0].error.ok()) << file.rows[0].error.ToString();
    const json full = file.rows[0].event;
    EXPECT_EQ(full["type"], cli::EventTypeOf(kind));
    SignedEvent event;
    s = SignedEvent::Sign(full, "xt-finance", key, &event);
    ASSERT_TRUE(s.ok()) << s.ToString() << "\n" << full;

    for (const auto& column : cli::ImportColumns(kind)) {
      if (column.name == "amount_yuan" || column.name == "amount_fen") continue;
      // The import's view: a file without the column.
      s = cli::ReadImportFile(SampleFile(kind, column.name), kind, &file, &where);
      EXPECT_EQ(s.ok(), !column.required) << column.name << ": " << s.ToString();
      if (column.required) {
        EXPECT_EQ(s.code(), "missing_column") << column.name;
      }
      // The codec's view: the event without the field.
      json without = full;
      std::string field(column.field);
      size_t dot = field.find('.');
      if (dot == std::string::npos) {
        without.erase(field);
      } else {
        without[field.substr(0, dot)].erase(field.substr(dot + 1));
      }
      s = SignedEvent::Sign(without, "xt-finance", key, &event);
      EXPECT_EQ(s.ok(), !column.required) << column.name << ": " << s.ToString();
    }
  }
}

cli::ImportFile ReadImportOk(std::string_view text, cli::ImportKind kind) {
  cli::ImportFile file;
  CsvPlace where;
  Status s = cli::ReadImportFile(text, kind, &file, &where);
  EXPECT_TRUE(s.ok()) << s.ToString();
  return file;
}

TEST(ImportFileTest, HeaderErrorsSpoilTheFileAndNameTheColumn) {
  struct Case {
    std::string header, code;
    size_t column;
    std::string named;  // what the message must name
  };
  const std::string base = "id,occurred_on,from,to,to_kind,category";
  std::vector<Case> cases = {
      {base + ",amount_fen,remarks", "unknown_column", 8, "remarks"},
      {base + ",amount_fen,type", "unknown_column", 8, "type"},  // the type is --type's
      {base + ",amount_fen,Amount_Yuan", "unknown_column", 8, "Amount_Yuan"},
      {base + ",amount_fen,to", "duplicate_column", 8, "to"},
      {base + ",amount_fen,amount_yuan", "amount_columns", 8, "amount_yuan"},
      {base, "missing_column", 0, "amount_yuan"},
      {"id,occurred_on,from,to,category,amount_fen", "missing_column", 0, "to_kind"},
      {base + ",,amount_fen", "unnamed_column", 7, "column"},
  };
  for (const auto& c : cases) {
    cli::ImportFile file;
    CsvPlace where;
    Status s = cli::ReadImportFile("\n" + c.header + "\na,b,c\n", cli::ImportKind::kAllocations,
                                   &file, &where);
    EXPECT_EQ(s.code(), c.code) << c.header;
    EXPECT_EQ(where.line, 2u) << c.header;
    EXPECT_EQ(where.column, c.column) << c.header;
    EXPECT_NE(s.message().find(c.named), std::string::npos) << c.header << ": " << s.message();
  }
}

// A spreadsheet saves the empty columns after the last named one that were once formatted:
// they are not columns. A value under them fails its row alone; a row that ends before them is
// whole. An unnamed column before a named one is still an error of the file (above).
TEST(ImportFileTest, EmptyColumnsAfterTheLastNamedOneAreNotRead) {
  cli::ImportFile file = ReadImportOk(
      "id,occurred_on,from,to,to_kind,category,amount_fen,,\n"
      "a1,2024-05-10,xt-finance,p1,project,municipal,100,,\n"
      "a2,2024-05-10,xt-finance,p1,project,municipal,200\n"
      "a3,2024-05-10,xt-finance,p1,project,municipal,300,,note\n"
      "a4,2024-05-10,xt-finance,p1,project,municipal\n"
      "a5,2024-05-10,xt-finance,p1,project,municipal,500,,,\n",
      cli::ImportKind::kAllocations);
  EXPECT_EQ(file.header.size(), 7u);
  ASSERT_EQ(file.rows.size(), 5u);
  for (size_t i : {0, 1}) {
    EXPECT_TRUE(file.rows[i].error.ok()) << i << ": " << file.rows[i].error.ToString();
    EXPECT_EQ(file.rows[i].event["amount_fen"], 100 * (i + 1));
  }
  EXPECT_EQ(file.rows[2].error.code(), "unnamed_column");
  EXPECT_EQ(file.rows[2].column, 9u);
  EXPECT_EQ(file.rows[2].id, "a3");
  EXPECT_EQ(file.rows[3].error.code(), "csv_cell_count");
  EXPECT_EQ(file.rows[3].column, 7u);
  EXPECT_NE(file.rows[3].error.message().find("the header names 7 columns"), std::string::npos)
      << file.rows[3].error.message();
  EXPECT_EQ(file.rows[4].error.code(), "csv_cell_count");  // more cells than the header
  EXPECT_EQ(file.rows[4].column, 10u);                     // its first cell past it
}

TEST(ImportFileTest, RowsBecomeEventsAndBadCellsNameTheirColumn) {
  cli::ImportFile file = ReadImportOk(
      "id,occurred_on,project,category,amount_yuan,payee_name,payee_kind,payee_credit_code,"
      "payee_org,work,item,units,memo\n"
      "d1,2024/5/10,p1,provincial,\"1,500,000.00\",湖南华夏建设有限公司,contractor,"
      "91430300MA4L2K8R33,hx-build,basic,roof,12,屋面\n"
      "d2,2024/5/10,p1,provincial,800000,某公司,contractor,,,basic,roof,,\n"
      "d3,2024/5/10,p1,provincial,1.001,某公司,contractor,,,basic,roof,,\n"
      "d4,2024/5/32,p1,provincial,1,某公司,contractor,,,basic,roof,,\n"
      "d5,2024/5/10,p1,provincial,1,,contractor,,,basic,roof,,\n"
      "d6,2024/5/10,p1,provincial,1,某公司,contractor,,,basic,roof,十二,\n"
      ",2024/5/10,p1,provincial,1,某公司,contractor,,,basic,roof,,\n",
      cli::ImportKind::kDisbursements);
  ASSERT_EQ(file.rows.size(), 7u);
  const json& d1 = file.rows[0].event;
  EXPECT_EQ(d1, json::parse(R"({"id": "d1", "type": "funds_disbursed", "occurred_on": "2024-05-10",
      "project": "p1", "category": "provincial", "amount_fen": 150000000,
      "payee": {"name": "湖南华夏建设有限公司", "kind": "contractor",
                "credit_code": "91430300MA4L2K8R33", "org": "hx-build"},
      "work": "basic", "item": "roof", "units": 12, "memo": "屋面"})"));
  const json& d2 = file.rows[1].event;
  EXPECT_EQ(d2["amount_fen"], 80000000);
  EXPECT_FALSE(d2["payee"].contains("credit_code")) << "an empty optional cell is absent";
  EXPECT_FALSE(d2.contains("units"));
  EXPECT_FALSE(d2.contains("memo"));
  struct Want {
    size_t row;
    std::string code;
    size_t column;
  };
  for (const Want& w :
       {Want{2, "bad_amount", 5}, Want{3, "bad_date", 2}, Want{4, "missing_value", 6},
        Want{5, "bad_number", 12}, Want{6, "missing_value", 1}}) {
    const cli::ImportRow& row = file.rows[w.row];
    EXPECT_EQ(row.error.code(), w.code) << "row " << w.row;
    EXPECT_EQ(row.column, w.column) << "row " << w.row;
    EXPECT_EQ(row.line, w.row + 2);
  }
  EXPECT_EQ(file.rows[2].id, "d3");
  // Rule errors name fields; each maps back to the column holding it.
  EXPECT_EQ(file.ColumnOf("amount_fen"), 5u);
  EXPECT_EQ(file.ColumnOf("payee.credit_code"), 8u);
  EXPECT_EQ(file.ColumnOf("payee"), 6u);
  EXPECT_EQ(file.ColumnOf("occurred_on"), 2u);
  EXPECT_EQ(file.ColumnOf("signer"), 0u);
  EXPECT_EQ(file.ColumnOf("contract_ref"), 0u) << "a field without a column in this file";
  EXPECT_EQ(file.ColumnOf(""), 0u);
}

TEST(ImportFileTest, FileLimits) {
  // Rows: one append batch at most.
  std::string text = "id,occurred_on,from,to,to_kind,category,amount_fen\n";
  std::string row = "a,2024-01-01,p,q,pool,central,1\n";
  text.reserve(text.size() + row.size() * (cli::kImportRowsMax + 1));
  for (size_t i = 0; i <= cli::kImportRowsMax; ++i) text += row;
  cli::ImportFile file;
  CsvPlace where;
  Status s = cli::ReadImportFile(text, cli::ImportKind::kAllocations, &file, &where);
  EXPECT_EQ(s.code(), "csv_too_many_rows");
  EXPECT_EQ(where.line, cli::kImportRowsMax + 2);
  // Bytes, whether read from a file or handed over.
  std::string big(cli::kImportFileBytesMax + 1, '\n');
  EXPECT_EQ(cli::ReadImportFile(big, cli::ImportKind::kAllocations, &file, &where).code(),
            "file_too_large");
  TestDir dir;
  WriteFile(dir / "f.csv", std::string(101, 'x'));
  std::string read;
  EXPECT_EQ(cli::ReadImportInput(dir / "f.csv", 100, &read).code(), "file_too_large");
  ASSERT_TRUE(cli::ReadImportInput(dir / "f.csv", 101, &read).ok());
  EXPECT_EQ(read.size(), 101u);
  EXPECT_EQ(cli::ReadImportInput(dir / "missing.csv", 100, &read).code(), "input_unreadable");
}

// ---- the binary on a real ledger ----

std::string DataFile(const std::string& name) {
  return std::string(FL_TEST_DATA_DIR) + "/import/" + name;
}

// A ledger built as DESIGN.md's users would: the operator registers the bureaus, a utility and
// a contractor; the housing bureau registers and approves a project (tests/data/import/README.md).
class ImportCliTest : public ::testing::Test {
 protected:
  static constexpr char kData[] = "data";

  void SetUp() override {
    for (const char* name : {"operator", "log.example", "hn-finance", "xt-finance", "yuhu-finance",
                             "yuhu-housing", "xt-water", "hx-build"}) {
      Expect(0, {"keygen", "--name", name, "--out", name});
    }
    Expect(0, {"init", "--data", kData, "--origin", "log.example/xiangtan", "--log-key",
               "log.example.key", "--operator", "operator", "--operator-key", "operator.key"});
    std::vector<json> registrations = {
        Registration("hn-finance", "湖南省财政厅", "finance_bureau", "provincial", "hunan"),
        Registration("xt-finance", "湘潭市财政局", "finance_bureau", "municipal", "hunan/xiangtan"),
        Registration("yuhu-finance", "雨湖区财政局", "finance_bureau", "district",
                     "hunan/xiangtan/yuhu"),
        Registration("yuhu-housing", "雨湖区住房和城乡建设局", "housing_bureau", "district",
                     "hunan/xiangtan/yuhu"),
        Registration("xt-water", "湘潭市自来水公司", "utility", "none", "hunan/xiangtan"),
        Registration("hx-build", "湖南华夏建设有限公司", "contractor", "none", "hunan/xiangtan"),
    };
    Submit("operator.key", registrations);
    Submit("yuhu-housing.key",
           {json::parse(R"({"id": "yuhu-2024-001-registered", "type": "project_registered",
              "occurred_on": "2024-03-10", "doc_ref": "雨建发〔2024〕8号",
              "project": "yuhu-2024-001", "name": "雨湖区和平街道老旧小区改造",
              "region": "hunan/xiangtan/yuhu/heping", "compounds": ["和平小区", "建设里小区"],
              "households": 480, "buildings": 12, "floor_area_m2": 36000, "built_year": 1995,
              "budget": {"basic_fen": 600000000, "improvement_fen": 300000000,
                         "enhancement_fen": 100000000},
              "funding_plan": [{"category": "provincial", "amount_fen": 400000000},
                               {"category": "municipal", "amount_fen": 400000000},
                               {"category": "utility", "amount_fen": 200000000}]})"),
            json::parse(R"({"id": "yuhu-2024-001-approved", "type": "project_status",
              "occurred_on": "2024-03-12", "project": "yuhu-2024-001", "status": "approved",
              "consent_bp": 8200})")});
    setup_size_ = LogSize();
  }

  // Runs the binary with `args` in the test's directory.
  CliResult Run(const std::vector<std::string>& args, const std::string& input = "") {
    return test::RunBinary(FL_BINARY, dir_, args, input);
  }

  CliResult Expect(int expected, const std::vector<std::string>& args,
                   const std::string& input = "") {
    return test::ExpectExit(FL_BINARY, dir_, expected, args, input);
  }

  json Registration(const std::string& org, const std::string& name, const std::string& kind,
                    const std::string& level, const std::string& region) {
    std::string text = ReadFile(dir_ / (org + ".pub"));
    NoteVerifier verifier;
    Status s = ParseVerifierKey(text.substr(0, text.find('\n')), &verifier);
    EXPECT_TRUE(s.ok()) << org << ": " << s.ToString();
    return {{"id", "reg-" + org},
            {"type", "org_registered"},
            {"occurred_on", "2024-03-01"},
            {"org", org},
            {"name", name},
            {"kind", kind},
            {"level", level},
            {"region", region},
            {"public_key", Base64Encode(verifier.key)}};
  }

  void Submit(const std::string& key, const std::vector<json>& events) {
    CliResult r = Expect(0, {"submit", "--data", kData, "--key", key, "-"}, json(events).dump());
    for (const auto& line : JsonLines(r.out)) EXPECT_FALSE(line.contains("error")) << line;
  }

  // Imports `file` as xt-finance; the results when `--format json`.
  std::vector<json> Import(int expected_exit, const std::string& type, const std::string& file,
                           std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"import", "--data", kData,      "--key", "xt-finance.key",
                                     "--type", type,     "--format", "json"};
    args.insert(args.end(), extra.begin(), extra.end());
    args.push_back(file);
    return JsonLines(Expect(expected_exit, args).out);
  }

  std::vector<json> Log() {
    return JsonLines(Expect(0, {"log", "--data", kData, "--limit", "100000"}).out);
  }
  uint64_t LogSize() { return Log().size(); }

  // The head as full verification reports it: size and root.
  json Head() {
    std::vector<json> out =
        JsonLines(Expect(0, {"verify", "--data", kData, "--format", "json"}).out);
    EXPECT_EQ(out.size(), 1u);
    if (out.empty()) return json();
    EXPECT_EQ(out[0]["ok"], true) << out[0];
    return {{"size", out[0]["size"]}, {"root", out[0]["root"]}};
  }

  // Expects every result to be a new record, in file order with consecutive seqs.
  void ExpectAppended(const std::vector<json>& results, const std::vector<std::string>& ids,
                      uint64_t first_seq) {
    ASSERT_EQ(results.size(), ids.size());
    for (size_t i = 0; i < ids.size(); ++i) {
      EXPECT_FALSE(results[i].contains("error")) << results[i];
      EXPECT_EQ(results[i]["id"], ids[i]);
      EXPECT_EQ(results[i]["seq"], first_seq + i) << results[i];
      EXPECT_EQ(results[i]["duplicate"], false) << results[i];
    }
  }

  TestDir dir_;
  uint64_t setup_size_ = 0;
};

TEST_F(ImportCliTest, GoodFilesAppendEveryRowAsSignedEvents) {
  ASSERT_EQ(setup_size_, 9u);
  std::vector<json> receipts = Import(0, "receipts", DataFile("receipts.csv"));
  ExpectAppended(receipts, {"xt-rcv-001", "xt-rcv-002", "xt-rcv-003"}, 10);
  EXPECT_EQ(receipts[0]["line"], 2);
  EXPECT_EQ(receipts[1]["line"], 3);
  EXPECT_EQ(receipts[2]["line"], 5) << "after a blank line";
  ExpectAppended(Import(0, "allocations", DataFile("allocations.csv")),
                 {"xt-alc-001", "xt-alc-002", "xt-alc-003"}, 13);
  ExpectAppended(Import(0, "disbursements", DataFile("disbursements.csv")),
                 {"xt-dsb-001", "xt-dsb-002", "xt-dsb-003"}, 16);

  std::vector<json> log = Log();
  ASSERT_EQ(log.size(), 18u);
  for (size_t i = 9; i < log.size(); ++i) {
    EXPECT_EQ(log[i]["envelope"]["signer"], "xt-finance");
  }
  // What the spreadsheet said, as the ledger holds it.
  EXPECT_EQ(log[9]["envelope"]["event"], json::parse(R"({"id": "xt-rcv-001",
      "type": "funds_received", "occurred_on": "2024-03-15", "doc_ref": "湘财建〔2024〕12号",
      "to": "xt-finance", "to_kind": "pool", "category": "municipal", "source_org": "xt-finance",
      "channel": "transfer", "amount_fen": 800000000, "memo": "2024年市级配套资金"})"));
  const json& utility = log[11]["envelope"]["event"];
  EXPECT_EQ(utility["amount_fen"], 120000050);
  EXPECT_EQ(utility["occurred_on"], "2024-03-20");
  EXPECT_EQ(utility["memo"], "管网改造由\"湘潭市自来水公司\"自行施工,\n按工程量折价入账");
  EXPECT_FALSE(utility.contains("doc_ref"));
  EXPECT_EQ(log[13]["envelope"]["event"]["amount_fen"], 400000000);
  const json& roof = log[15]["envelope"]["event"];
  EXPECT_EQ(roof["payee"], json::parse(R"({"name": "湖南华夏建设有限公司", "kind": "contractor",
      "credit_code": "91430300MA4L2K8R33", "org": "hx-build"})"));
  EXPECT_EQ(roof["units"], 12);
  EXPECT_EQ(roof["amount_fen"], 150000000);
  EXPECT_FALSE(log[16]["envelope"]["event"].contains("units"));
  // The results name the records as the log does.
  EXPECT_EQ(receipts[2]["leaf_hash"], log[11]["leaf_hash"]);
  Head();  // verifies
}

TEST_F(ImportCliTest, OneBadRowIsNamedByLineAndColumnAndTheOthersAreAppended) {
  Import(0, "receipts", DataFile("receipts.csv"));
  const uint64_t before = LogSize();
  std::vector<json> results = Import(1, "receipts", DataFile("receipts-one-bad.csv"));
  ASSERT_EQ(results.size(), 3u);
  EXPECT_EQ(results[0]["seq"], before + 1);
  EXPECT_EQ(results[2]["seq"], before + 2);
  const json& bad = results[1];
  EXPECT_EQ(bad["line"], 4) << "the row before it spans two lines";
  EXPECT_EQ(bad["id"], "xt-rcv-102");
  ASSERT_TRUE(bad.contains("error")) << bad;
  EXPECT_EQ(bad["error"]["code"], "bad_amount");
  EXPECT_EQ(bad["error"]["line"], 4);
  EXPECT_EQ(bad["error"]["column"], 8);
  EXPECT_EQ(bad["error"]["column_name"], "amount_yuan");
  EXPECT_EQ(bad["error"]["field"], "amount_fen");
  EXPECT_EQ(bad["error"]["event_id"], "xt-rcv-102");
  EXPECT_EQ(LogSize(), before + 2);
  // The table says the same to a person.
  CliResult table = Expect(1, {"import", "--data", kData, "--key", "xt-finance.key", "--type",
                               "receipts", DataFile("receipts-one-bad.csv")});
  EXPECT_NE(table.out.find("line 4\txt-rcv-102\tfailed bad_amount in column 8 (amount_yuan)"),
            std::string::npos)
      << table.out;
  EXPECT_NE(table.out.find("3 rows: 0 appended, 2 already recorded, 1 failed\n"), std::string::npos)
      << table.out;
}

// A file longer than one batch goes in several durable batches (kImportBatchEvents), their
// syncs overlapping the next batch's work: each row still gets its own result in file order, a
// row that reuses the id of a row one batch before is refused alone, and the ledger verifies.
TEST_F(ImportCliTest, AFileOfSeveralBatchesGivesEachRowItsResultInOrder) {
  const size_t kRows = 2 * cli::kImportBatchEvents + 600, kBad = cli::kImportBatchEvents + 600;
  std::string csv = "id,occurred_on,to,to_kind,category,source_org,channel,amount_yuan\n";
  for (size_t i = 0; i < kRows; ++i) {
    const size_t id = i == kBad ? 10 : i;  // the id of a row of the first batch
    csv += "xt-bulk-" + std::to_string(id) + ",2024-03-15,xt-finance,pool,municipal,xt-finance," +
           "transfer," + std::to_string(100 + i) + "\n";
  }
  WriteFile(dir_ / "bulk.csv", csv);
  const uint64_t before = LogSize();
  std::vector<json> results = Import(1, "receipts", "bulk.csv");
  ASSERT_EQ(results.size(), kRows);
  uint64_t seq = before;
  for (size_t i = 0; i < kRows; ++i) {
    EXPECT_EQ(results[i]["line"], i + 2) << results[i];
    if (i == kBad) {
      ASSERT_TRUE(results[i].contains("error")) << results[i];
      EXPECT_EQ(results[i]["error"]["code"], "duplicate_id") << results[i];
      EXPECT_EQ(results[i]["error"]["column_name"], "id") << results[i];
      continue;
    }
    ASSERT_FALSE(results[i].contains("error")) << results[i];
    EXPECT_EQ(results[i]["seq"], ++seq) << results[i];
  }
  EXPECT_EQ(Head()["size"], before + kRows - 1);
}

// A write that fails midway (a full disk; here a limit on the size of a file) stops the import
// with the line up to which rows may be recorded. Importing the same file again once there is
// room records every row exactly once.
TEST_F(ImportCliTest, AnImportStoppedByAFailedWriteSaysWhatMayBeRecordedAndRunsAgain) {
  const size_t kRows = 3 * cli::kImportBatchEvents;
  std::string csv = "id,occurred_on,to,to_kind,category,source_org,channel,amount_yuan\n";
  for (size_t i = 0; i < kRows; ++i) {
    csv += "xt-full-" + std::to_string(i) + ",2024-03-15,xt-finance,pool,municipal,xt-finance," +
           "transfer," + std::to_string(100 + i) + "\n";
  }
  WriteFile(dir_ / "full.csv", csv);
  const uint64_t before = LogSize();
  // Files of at most 1 MiB (sh counts `ulimit -f` in blocks of 512 bytes), with SIGXFSZ ignored:
  // a write past it fails with EFBIG. A batch of receipts takes about 0.7 MB of the WAL.
  const auto import_limited = [&](std::vector<std::string> more) {
    std::vector<std::string> args = {"-c",      "trap '' XFSZ; ulimit -f 2048; exec \"$0\" \"$@\"",
                                     FL_BINARY, "import",
                                     "--data",  kData,
                                     "--key",   "xt-finance.key",
                                     "--type",  "receipts"};
    args.insert(args.end(), more.begin(), more.end());
    return test::RunBinary("/bin/sh", dir_, args);
  };
  // All or nothing: one batch, recorded whole or not at all.
  CliResult whole = import_limited({"--all-or-nothing", "full.csv"});
  EXPECT_EQ(whole.exit_code, 1) << test::Describe(whole);
  EXPECT_NE(whole.err.find("journal_failed"), std::string::npos) << whole.err;
  EXPECT_NE(whole.err.find("one batch, recorded whole or not at all"), std::string::npos)
      << whole.err;
  EXPECT_EQ(LogSize(), before);
  CliResult stopped = import_limited({"full.csv"});
  EXPECT_EQ(stopped.exit_code, 1) << test::Describe(stopped);
  EXPECT_NE(stopped.err.find("journal_failed"), std::string::npos) << stopped.err;
  std::smatch match;
  ASSERT_TRUE(std::regex_search(stopped.err, match,
                                std::regex("the rows up to line ([0-9]+) were written before it "
                                           "and may be recorded, the rows after them are not")))
      << stopped.err;
  const size_t last_line = std::stoul(match[1]);
  EXPECT_EQ((last_line - 1) % cli::kImportBatchEvents, 0u) << "a batch's last row: " << last_line;
  EXPECT_LT(last_line, kRows + 1) << "the limit stopped no batch";
  EXPECT_NE(stopped.err.find("importing the same file again is safe"), std::string::npos)
      << stopped.err;
  // Again, with room: the rows recorded before are reported as such, none after the line named.
  std::vector<json> results = Import(0, "receipts", "full.csv");
  ASSERT_EQ(results.size(), kRows);
  std::set<uint64_t> seqs;
  size_t recorded_before = 0;
  for (const json& r : results) {
    ASSERT_FALSE(r.contains("error")) << r;
    if (r["duplicate"] == true) {
      EXPECT_LE(r["line"].get<size_t>(), last_line) << r;
      ++recorded_before;
    }
    seqs.insert(r["seq"].get<uint64_t>());
  }
  EXPECT_EQ(seqs.size(), kRows);
  EXPECT_EQ(Head()["size"], before + kRows);
  EXPECT_LE(recorded_before, last_line - 1);
}

// An error that is not a failed write (here a ledger open read-only) is returned as it is: no
// advice about rows that may be recorded, and the exit status of its own kind.
TEST_F(ImportCliTest, AnAppendRefusedWholeIsNotTakenForAFailedWrite) {
  cli::ImportFile file;
  CsvPlace where;
  ASSERT_TRUE(
      cli::ReadImportFile("id,occurred_on,to,to_kind,category,source_org,channel,amount_fen\n"
                          "xt-ro-1,2024-03-15,xt-finance,pool,municipal,xt-finance,transfer,1\n",
                          cli::ImportKind::kReceipts, &file, &where)
          .ok());
  NoteSigner key;
  ASSERT_TRUE(ReadSecretKeyFile(dir_ / "xt-finance.key", &key).ok());
  JournalOptions options;
  options.read_only = true;
  std::unique_ptr<Journal> journal;
  ASSERT_TRUE(Journal::Open(dir_ / kData, options, &journal).ok());
  for (bool all_or_nothing : {false, true}) {
    cli::ImportOptions import;
    import.all_or_nothing = all_or_nothing;
    std::vector<cli::ImportResult> results;
    Status s = cli::AppendImport(*journal, file, "xt-finance", key.key, import, &results);
    EXPECT_EQ(s.code(), "read_only") << s.ToString();
    EXPECT_EQ(s.kind(), Status::Kind::kInvalidArgument) << s.ToString();
    EXPECT_EQ(s.message().find("import"), std::string::npos) << s.ToString();
  }
}

TEST_F(ImportCliTest, RowsTheReaderCannotUseFailAloneNamingTheirCell) {
  WriteFile(dir_ / "rows.csv",
            "id,occurred_on,to,to_kind,category,source_org,channel,amount_fen,memo\r\n"
            "xt-rcv-601,2024-06-01,xt-finance,pool,municipal,xt-finance,transfer,100,好\r\n"
            "xt-rcv-602,2024-06-01,xt-finance,pool,municipal,xt-finance,transfer,100,\"a\"b\r\n"
            "xt-rcv-603,2024-06-01,xt-finance,pool,municipal,xt-finance,transfer,100,a,b\r\n"
            "xt-rcv-604,2024-06-01,xt-finance,pool,municipal,xt-finance,transfer\r\n"
            "xt-rcv-605,2024-06-01,xt-finance,pool,municipal,xt-finance,transfer,\"1\"0,\r\n"
            "xt-rcv-606,2024-06-01,xt-finance,pool,municipal,xt-finance,transfer,100,\r\n");
  std::vector<json> results = Import(1, "receipts", dir_ / "rows.csv");
  ASSERT_EQ(results.size(), 6u);
  EXPECT_EQ(results[0]["seq"], setup_size_ + 1) << results[0];
  EXPECT_EQ(results[5]["seq"], setup_size_ + 2) << results[5];
  struct Want {
    size_t row;
    std::string code;
    int column;
    json column_name;
  };
  for (const Want& w :
       {Want{1, "csv_bad_quote", 9, "memo"}, Want{2, "csv_cell_count", 10, nullptr},
        Want{3, "csv_cell_count", 8, "amount_fen"}, Want{4, "csv_bad_quote", 8, "amount_fen"}}) {
    const json& r = results[w.row];
    ASSERT_TRUE(r.contains("error")) << r;
    EXPECT_EQ(r["id"], "xt-rcv-60" + std::to_string(w.row + 1));
    EXPECT_EQ(r["error"]["code"], w.code) << r;
    EXPECT_EQ(r["error"]["line"], w.row + 2) << r;
    EXPECT_EQ(r["error"]["column"], w.column) << r;
    EXPECT_EQ(r["error"]["column_name"], w.column_name) << r;
  }
  EXPECT_EQ(LogSize(), setup_size_ + 2);
}

// A cell's line breaks, tabs and escapes are shown escaped in the table: a crafted id cannot end
// its result line and print a fake one, nor a header name send the terminal an escape.
TEST_F(ImportCliTest, ACellCannotEndItsResultLineOrFakeAnother) {
  WriteFile(dir_ / "crafted.csv",
            "id,occurred_on,to,to_kind,category,source_org,channel,amount_fen\n"
            "\"x\nline 9\txt-rcv-999\tseq 41\",2024-06-01,xt-finance,pool,municipal,xt-finance,"
            "transfer,100\n");
  CliResult r = Expect(1, {"import", "--data", kData, "--key", "xt-finance.key", "--type",
                           "receipts", dir_ / "crafted.csv"});
  EXPECT_EQ(r.out.find("\nline 9"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("line 2\tx\\x0aline 9\\x09xt-rcv-999\\x09seq 41\tfailed bad_id"),
            std::string::npos)
      << r.out;
  WriteFile(dir_ / "header.csv", "id,\x1b[2Jmemo\nr1,a\n");
  r = Expect(1, {"import", "--data", kData, "--key", "xt-finance.key", "--type", "receipts",
                 dir_ / "header.csv"});
  EXPECT_EQ(r.err.find('\x1b'), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("\\x1b[2Jmemo"), std::string::npos) << r.err;
  EXPECT_EQ(cli::TerminalText("好\u009b\x7f"), "好\\u009b\\x7f");
}

TEST_F(ImportCliTest, ARuleRejectionNamesTheColumnOfItsField) {
  WriteFile(dir_ / "late.csv",
            "id,occurred_on,to,to_kind,category,source_org,channel,amount_fen\n"
            "xt-rcv-301,2024-06-01,xt-finance,pool,municipal,xt-finance,transfer,100\n"
            "xt-rcv-302,2999/1/1,xt-finance,pool,municipal,xt-finance,transfer,100\n"
            "xt-rcv-303,2024-06-01,xt-finance,reservoir,municipal,xt-finance,transfer,100\n");
  std::vector<json> results = Import(1, "receipts", dir_ / "late.csv");
  ASSERT_EQ(results.size(), 3u);
  EXPECT_EQ(results[0]["seq"], setup_size_ + 1);
  EXPECT_EQ(results[1]["error"]["code"], "date_in_future") << results[1];
  EXPECT_EQ(results[1]["error"]["column"], 2);
  EXPECT_EQ(results[1]["error"]["column_name"], "occurred_on");
  EXPECT_EQ(results[2]["error"]["code"], "unknown_enum_value") << results[2];
  EXPECT_EQ(results[2]["error"]["column"], 4);
  EXPECT_EQ(results[2]["error"]["column_name"], "to_kind");
  EXPECT_EQ(LogSize(), setup_size_ + 1);
}

TEST_F(ImportCliTest, FundRuleRejectionsNameTheColumnOfTheirField) {
  Import(0, "receipts", DataFile("receipts.csv"));
  Import(0, "allocations", DataFile("allocations.csv"));
  const uint64_t before = LogSize();
  // The project holds 4,000,000 yuan of provincial and of municipal money.
  WriteFile(dir_ / "rules.csv",
            "id,occurred_on,project,category,work,item,amount_yuan,payee_name,payee_kind,"
            "payee_credit_code\n"
            "xt-dsb-501,2024-06-01,yuhu-2024-001,provincial,basic,road,\"100,000\","
            "湘潭路桥有限公司,contractor,91430300MA4RX3C06K\n"
            "xt-dsb-502,2024-06-01,yuhu-2024-001,provincial,enhancement,elderly_care,100,"
            "湘潭路桥有限公司,contractor,\n"
            "xt-dsb-503,2024-06-01,yuhu-2024-001,municipal,basic,road,\"4,000,000.01\","
            "湘潭路桥有限公司,contractor,\n"
            "xt-dsb-504,2024-06-01,yuhu-2024-001,provincial,basic,road,100,"
            "湘潭路桥有限公司,contractor,91430300MA4RX3C06X\n"
            "xt-dsb-505,2024-06-01,yuhu-2024-001,provincial,basic,road,0.00,"
            "湘潭路桥有限公司,contractor,\n");
  std::vector<json> results = Import(1, "disbursements", dir_ / "rules.csv");
  ASSERT_EQ(results.size(), 5u);
  EXPECT_EQ(results[0]["seq"], before + 1) << results[0];
  struct Want {
    size_t row;
    std::string code, column_name;
    int column;
  };
  for (const Want& w :
       {Want{1, "restricted_use", "work", 5}, Want{2, "overdraft", "amount_yuan", 7},
        Want{3, "bad_credit_code", "payee_credit_code", 10},
        Want{4, "amount_out_of_range", "amount_yuan", 7}}) {
    const json& r = results[w.row];
    ASSERT_TRUE(r.contains("error")) << r;
    EXPECT_EQ(r["error"]["code"], w.code) << r;
    EXPECT_EQ(r["error"]["line"], w.row + 2) << r;
    EXPECT_EQ(r["error"]["column"], w.column) << r;
    EXPECT_EQ(r["error"]["column_name"], w.column_name) << r;
  }
  // A receipt of a category its source does not give.
  WriteFile(dir_ / "category.csv",
            "id,occurred_on,to,to_kind,category,source_org,channel,amount_fen\n"
            "xt-rcv-501,2024-06-01,xt-finance,pool,central,xt-finance,transfer,100\n");
  results = Import(1, "receipts", dir_ / "category.csv");
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0]["error"]["code"], "category_mismatch") << results[0];
  EXPECT_EQ(results[0]["error"]["column_name"], "category");
  EXPECT_EQ(LogSize(), before + 1);
}

TEST_F(ImportCliTest, AllOrNothingAppendsNothingWhenAnyRowFails) {
  Import(0, "receipts", DataFile("receipts.csv"));
  const json head = Head();
  const std::vector<json> log = Log();
  // A row that does not parse: nothing reaches the journal.
  std::vector<json> results =
      Import(1, "receipts", DataFile("receipts-one-bad.csv"), {"--all-or-nothing"});
  ASSERT_EQ(results.size(), 3u);
  EXPECT_EQ(results[1]["error"]["code"], "bad_amount");
  EXPECT_EQ(results[1]["error"]["column"], 8);
  EXPECT_EQ(results[0]["error"]["code"], "batch_not_appended");
  EXPECT_EQ(results[2]["error"]["code"], "batch_not_appended");
  EXPECT_EQ(Head(), head);
  EXPECT_EQ(Log(), log);
  // A row the ledger rejects, after good ones: the journal drops the whole batch.
  WriteFile(dir_ / "late.csv",
            "id,occurred_on,to,to_kind,category,source_org,channel,amount_fen\n"
            "xt-rcv-401,2024-06-01,xt-finance,pool,municipal,xt-finance,transfer,100\n"
            "xt-rcv-402,2999-01-01,xt-finance,pool,municipal,xt-finance,transfer,100\n");
  results = Import(1, "receipts", dir_ / "late.csv", {"--all-or-nothing"});
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[0]["error"]["code"], "batch_not_appended");
  EXPECT_EQ(results[1]["error"]["code"], "date_in_future");
  EXPECT_EQ(results[1]["error"]["column_name"], "occurred_on");
  EXPECT_EQ(Head(), head);
  EXPECT_EQ(Log(), log);
  CliResult table = Expect(1, {"import", "--data", kData, "--key", "xt-finance.key", "--type",
                               "receipts", "--all-or-nothing", dir_ / "late.csv"});
  EXPECT_NE(table.out.find("nothing appended"), std::string::npos) << table.out;
  // Every row good: all of them.
  ExpectAppended(Import(0, "allocations", DataFile("allocations.csv"), {"--all-or-nothing"}),
                 {"xt-alc-001", "xt-alc-002", "xt-alc-003"}, log.size() + 1);
}

// What an earlier import recorded stays recorded, and an import says so: with --all-or-nothing
// when another row fails, and after the signer's key was rotated (the rows come back signed
// with the new key). Only the rows not recorded are the batch that is appended or not.
TEST_F(ImportCliTest, RowsAnEarlierImportRecordedAreReportedRecordedWhateverElseFails) {
  const std::vector<json> first = Import(0, "receipts", DataFile("receipts.csv"));
  ASSERT_EQ(first.size(), 3u);
  const std::string text = ReadFile(DataFile("receipts.csv"));
  const std::string header = text.substr(0, text.find('\n') + 1);
  const std::string rows = text.substr(header.size());
  // The same rows, a new one and one that does not parse.
  WriteFile(dir_ / "more.csv",
            header + rows +
                "xt-rcv-501,2024-06-01,,xt-finance,pool,municipal,xt-finance,transfer,100,\n"
                "xt-rcv-502,2024-06-01,,xt-finance,pool,municipal,xt-finance,transfer,1.001,\n");
  const json head = Head();
  std::vector<json> results = Import(1, "receipts", dir_ / "more.csv", {"--all-or-nothing"});
  ASSERT_EQ(results.size(), 5u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(results[i]["duplicate"], true) << results[i];
    EXPECT_EQ(results[i]["seq"], first[i]["seq"]);
    EXPECT_EQ(results[i]["leaf_hash"], first[i]["leaf_hash"]);
  }
  EXPECT_EQ(results[3]["error"]["code"], "batch_not_appended");
  EXPECT_EQ(results[4]["error"]["code"], "bad_amount");
  EXPECT_EQ(Head(), head);
  CliResult table = Expect(1, {"import", "--data", kData, "--key", "xt-finance.key", "--type",
                               "receipts", "--all-or-nothing", dir_ / "more.csv"});
  EXPECT_NE(table.out.find("5 rows: 0 appended, 3 already recorded, 1 failed, 1 not appended; "
                           "nothing appended (all or nothing)"),
            std::string::npos)
      << table.out;

  // The city's finance bureau rotates its key; the file is imported again, signed with the new
  // key, without its bad row: the three rows are recorded already, the new one is appended.
  std::filesystem::create_directories(dir_ / "rotated");
  Expect(0, {"keygen", "--name", "xt-finance", "--out", "rotated/xt-finance"});
  NoteVerifier rotated;
  std::string pub = ReadFile(dir_ / "rotated/xt-finance.pub");
  ASSERT_TRUE(ParseVerifierKey(pub.substr(0, pub.find('\n')), &rotated).ok());
  Submit("xt-finance.key", {{{"id", "xt-rotate"},
                             {"type", "key_rotated"},
                             {"occurred_on", "2024-06-01"},
                             {"org", "xt-finance"},
                             {"public_key", Base64Encode(rotated.key)}}});
  const uint64_t size = LogSize();
  WriteFile(dir_ / "good.csv",
            header + rows +
                "xt-rcv-501,2024-06-01,,xt-finance,pool,municipal,xt-finance,transfer,100,\n");
  auto import_rotated = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = {
        "import", "--data",   kData,      "--key", "rotated/xt-finance.key",
        "--type", "receipts", "--format", "json"};
    args.insert(args.end(), extra.begin(), extra.end());
    args.push_back(dir_ / "good.csv");
    return JsonLines(Expect(0, args).out);
  };
  results = import_rotated({"--all-or-nothing"});
  ASSERT_EQ(results.size(), 4u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(results[i]["duplicate"], true) << results[i];
    EXPECT_EQ(results[i]["seq"], first[i]["seq"]);
  }
  EXPECT_FALSE(results[3].contains("error")) << results[3];
  EXPECT_EQ(results[3]["seq"], size + 1);
  EXPECT_EQ(results[3]["duplicate"], false);
  EXPECT_EQ(LogSize(), size + 1);
  // In batches, again: every row is recorded.
  results = import_rotated({});
  ASSERT_EQ(results.size(), 4u);
  for (size_t i = 0; i < 4; ++i) EXPECT_EQ(results[i]["duplicate"], true) << results[i];
  EXPECT_EQ(results[3]["seq"], size + 1);
  EXPECT_EQ(LogSize(), size + 1);
  std::filesystem::create_directories(dir_ / "wrong");
  Expect(0, {"keygen", "--name", "xt-finance", "--out", "wrong/xt-finance"});
  // With the key it held before the rotation, or a key never registered, the import stops
  // before any row, all or nothing or not: its rows would be refused, and those recorded before
  // reported recorded, which would hide the wrong key.
  for (const std::string key : {"xt-finance.key", "wrong/xt-finance.key"}) {
    for (const bool all_or_nothing : {true, false}) {
      std::vector<std::string> args = {"import", "--data", kData,     "--key",
                                       key,      "--type", "receipts"};
      if (all_or_nothing) args.push_back("--all-or-nothing");
      args.push_back(dir_ / "good.csv");
      CliResult r = Expect(1, args);
      EXPECT_NE(r.err.find("key_not_current"), std::string::npos) << r.err;
      EXPECT_NE(r.err.find("not xt-finance's current key"), std::string::npos) << r.err;
    }
  }
  CliResult unknown = Expect(1, {"import", "--data", kData, "--key", "rotated/xt-finance.key",
                                 "--signer", "xt-nobody", "--type", "receipts", dir_ / "good.csv"});
  EXPECT_NE(unknown.err.find("signer_unknown"), std::string::npos) << unknown.err;
  EXPECT_EQ(LogSize(), size + 1);
}

TEST_F(ImportCliTest, FileErrorsExitOneAndAppendNothing) {
  const json head = Head();
  struct Case {
    std::string what, file, text, code, named;
  };
  std::vector<Case> cases = {
      {"an unknown column", DataFile("receipts-unknown-column.csv"), "", "unknown_column",
       "line 1, column 9 (remarks)"},
      {"a missing column", dir_ / "missing.csv",
       "id,occurred_on,to,to_kind,category,channel,amount_fen\n"
       "r1,2024-06-01,xt-finance,pool,municipal,transfer,1\n",
       "missing_column", "source_org"},
      {"both amount columns", dir_ / "amounts.csv",
       "id,occurred_on,to,to_kind,category,source_org,channel,amount_fen,amount_yuan\n"
       "r1,2024-06-01,xt-finance,pool,municipal,xt-finance,transfer,100,1\n",
       "amount_columns", "column 9 (amount_yuan)"},
      // Saved by a spreadsheet in GB18030: its first row is all ASCII, its second's memo (漏水)
      // reads as UTF-8 of other characters (©ˮ), and its third's (财务) does not read at all.
      // Nothing of it is appended, not even the rows that would read.
      {"a file in GB18030", dir_ / "gb18030.csv",
       "id,occurred_on,to,to_kind,category,source_org,channel,amount_fen,memo\n"
       "r1,2024-06-01,xt-finance,pool,municipal,xt-finance,transfer,100,\n"
       "r2,2024-06-01,xt-finance,pool,municipal,xt-finance,transfer,100,\xC2\xA9\xCB\xAE\n"
       "r3,2024-06-01,xt-finance,pool,municipal,xt-finance,transfer,100,\xB2\xC6\xCE\xF1\n",
       "csv_bad_utf8", "line 4, column 9 (memo)"},
      {"an unterminated quote", dir_ / "quote.csv",
       "id,occurred_on,to,to_kind,category,source_org,channel,amount_fen\n"
       "r1,2024-06-01,xt-finance,pool,municipal,xt-finance,transfer,100\n"
       "r2,2024-06-01,xt-finance,pool,\"municipal,xt-finance,transfer,100\n",
       "csv_unterminated_quote", "line 3, column 5 (category)"},
  };
  for (const auto& c : cases) {
    if (!c.text.empty()) WriteFile(c.file, c.text);
    CliResult r = Expect(
        1, {"import", "--data", kData, "--key", "xt-finance.key", "--type", "receipts", c.file});
    EXPECT_NE(r.err.find(c.code), std::string::npos) << c.what << "\n" << r.err;
    EXPECT_NE(r.err.find(c.named), std::string::npos) << c.what << "\n" << r.err;
    EXPECT_NE(r.err.find("nothing appended"), std::string::npos) << c.what << "\n" << r.err;
    std::vector<json> out =
        JsonLines(Expect(1, {"import", "--data", kData, "--key", "xt-finance.key", "--type",
                             "receipts", "--format", "json", c.file})
                      .out);
    ASSERT_EQ(out.size(), 1u) << c.what;
    EXPECT_EQ(out[0]["error"]["code"], c.code) << c.what;
    EXPECT_EQ(Head(), head) << c.what;
  }
  // Over the size limit: a sparse file costs no disk.
  std::string big = dir_ / "big.csv";
  WriteFile(big, "id\n");
  std::filesystem::resize_file(big, cli::kImportFileBytesMax + 1);
  CliResult r =
      Expect(1, {"import", "--data", kData, "--key", "xt-finance.key", "--type", "receipts", big});
  EXPECT_NE(r.err.find("file_too_large"), std::string::npos) << r.err;
  EXPECT_EQ(Head(), head);
}

TEST_F(ImportCliTest, ReimportingTheSameFileGivesDuplicatesNotNewRecords) {
  std::vector<json> first = Import(0, "receipts", DataFile("receipts.csv"));
  const json head = Head();
  std::vector<json> again = Import(0, "receipts", DataFile("receipts.csv"));
  ASSERT_EQ(again.size(), first.size());
  for (size_t i = 0; i < first.size(); ++i) {
    EXPECT_EQ(again[i]["duplicate"], true) << again[i];
    EXPECT_EQ(again[i]["seq"], first[i]["seq"]);
    EXPECT_EQ(again[i]["leaf_hash"], first[i]["leaf_hash"]);
  }
  EXPECT_EQ(Head(), head);
  // From standard input, as a table.
  CliResult r =
      Expect(0, {"import", "--data", kData, "--key", "xt-finance.key", "--type", "receipts", "-"},
             ReadFile(DataFile("receipts.csv")));
  EXPECT_NE(r.out.find("3 rows: 0 appended, 3 already recorded, 0 failed"), std::string::npos)
      << r.out;
  // The same id with other content is no duplicate.
  WriteFile(dir_ / "changed.csv",
            "id,occurred_on,to,to_kind,category,source_org,channel,amount_fen\n"
            "xt-rcv-001,2024-03-15,xt-finance,pool,municipal,xt-finance,transfer,1\n");
  std::vector<json> changed = Import(1, "receipts", dir_ / "changed.csv");
  ASSERT_EQ(changed.size(), 1u);
  EXPECT_EQ(changed[0]["error"]["code"], "duplicate_id");
  EXPECT_EQ(changed[0]["error"]["column_name"], "id");
  EXPECT_EQ(Head(), head);
}

TEST_F(ImportCliTest, BadUsageExitsTwo) {
  const std::string file = DataFile("receipts.csv");
  Expect(2, {"import", "--data", kData, "--key", "xt-finance.key", file});  // no --type
  Expect(2, {"import", "--data", kData, "--key", "xt-finance.key", "--type", "refunds", file});
  Expect(2, {"import", "--data", kData, "--type", "receipts", file});  // no --key
  Expect(2, {"import", "--data", kData, "--key", "missing.key", "--type", "receipts", file});
  Expect(2, {"import", "--data", kData, "--key", "xt-finance.key", "--type", "receipts", "--signer",
             "bad signer", file});
  Expect(2, {"import", "--data", kData, "--key", "xt-finance.key", "--type", "receipts", "--format",
             "xml", file});
  Expect(2, {"import", "--data", kData, "--key", "xt-finance.key", "--type", "receipts",
             "missing.csv"});
  EXPECT_EQ(LogSize(), setup_size_);
}

}  // namespace
}  // namespace fundledger
