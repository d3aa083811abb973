// `fundledger import`: the CSV reader on what spreadsheets write.

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tools/csv.h"

namespace fundledger {
namespace {

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

TEST(CsvReaderTest, InvalidUtf8IsARowErrorNamingLineAndColumn) {
  const std::vector<std::string> bad = {
      "\xFF",              // never a UTF-8 byte
      "\xC3",              // truncated
      "\xC0\xAF",          // overlong '/'
      "\xED\xA0\x80",      // a surrogate
      "\xF4\x90\x80\x80",  // above U+10FFFF
      "GB18030 \xB2\xC6",  // 财 in GB18030, as a spreadsheet saved in the old encoding would
  };
  for (const auto& cell : bad) {
    CsvTable t = ReadOk("id,name,memo\nr1,好,ok\nr2,ok,\"两\n行\"\nr3,ok," + cell + "\nr4,a,b\n");
    ASSERT_EQ(t.rows.size(), 4u);
    EXPECT_TRUE(t.rows[0].error.ok());
    EXPECT_TRUE(t.rows[1].error.ok());
    EXPECT_EQ(t.rows[2].error.code(), "csv_bad_utf8") << ::testing::PrintToString(cell);
    EXPECT_EQ(t.rows[2].place.line, 5u);
    EXPECT_EQ(t.rows[2].place.column, 3u);
    EXPECT_TRUE(t.rows[3].error.ok()) << "a bad row does not spoil the next";
  }
  // In the header, it spoils the file.
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

}  // namespace
}  // namespace fundledger
