// libFuzzer target: a spreadsheet saved as CSV, read as an import file of each kind (the CSV
// reader, the cell parsers and the column mapping of `fundledger import`). Every row read
// names its line, and every row that became an event carries one of its kind.
#include <cstdint>
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
      if (row.line == 0 || row.line < file.header_line) std::abort();
      if (row.error.ok() && row.event.value("type", "") != EventTypeOf(kind)) std::abort();
      if (!row.error.ok() && row.column > file.header.size()) std::abort();
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
