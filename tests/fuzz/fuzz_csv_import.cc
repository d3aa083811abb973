// libFuzzer target: a spreadsheet saved as CSV, read as an import file of each kind (the CSV
// reader, the cell parsers and the column mapping of `fundledger import`). Every row read
// names a line at or after the header's, and every row that became an event is one of its kind.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "tools/csv_import.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace fundledger;
  using namespace fundledger::cli;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  for (ImportKind kind :
       {ImportKind::kReceipts, ImportKind::kAllocations, ImportKind::kDisbursements}) {
    ImportFile file;
    CsvPlace where;
    if (!ReadImportFile(text, kind, &file, &where).ok()) continue;
    for (const ImportRow& row : file.rows) {
      // (A failed row's column may lie past the header: a ragged row's extra cell.)
      bool bad = row.line == 0 || row.line < file.header_line ||
                 (row.error.ok() &&
                  (!row.event.is_object() || row.event.value("type", "") != EventTypeOf(kind)));
      if (bad) {
        fprintf(stderr, "row at line %zu (header at %zu): %s\n%s\n", row.line, file.header_line,
                row.error.ToString().c_str(),
                row.event.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
        std::abort();
      }
    }
  }
  CsvTable table;
  CsvPlace where;
  if (ReadCsv(text, CsvLimits(), &table, &where).ok()) {
    for (const CsvRow& row : table.rows) {
      if (row.error.ok() && row.cells.size() != table.header.cells.size()) std::abort();
    }
  }
  return 0;
}
