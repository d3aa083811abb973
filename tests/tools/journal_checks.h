// Checks of a journal's stored rows that the crash tests make after every kill (gtest
// assertions; call under ASSERT_NO_FATAL_FAILURE).
#pragma once

#include <gtest/gtest.h>

#include <set>
#include <string>

#include "ledger/event.h"
#include "ledger/journal.h"
#include "ledger/storage_format.h"

namespace fundledger::test {

// The records are 1..size, whole, one per event, with as many id rows and leaves; `ids_out`, if
// given, gets the events' ids.
inline void CheckRecordsWhole(const Journal& journal, uint64_t size,
                              std::set<std::string>* ids_out = nullptr) {
  std::set<std::string> ids;
  uint64_t expected_seq = 1;
  Status s = journal.ScanRecords(1, [&](uint64_t seq, std::string_view bytes) {
    EXPECT_EQ(seq, expected_seq) << "gap in the records";
    expected_seq = seq + 1;
    RecordReader record;
    SignedEvent event;
    Status read = RecordReader::Open(bytes, &record);
    if (read.ok()) read = SignedEvent::FromEnvelopeReader(record.record().getEnvelope(), &event);
    EXPECT_TRUE(read.ok()) << "seq " << seq << ": " << read.ToString();
    if (read.ok()) ids.insert(event.id());
    return true;
  });
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(expected_seq - 1, size);
  EXPECT_EQ(ids.size(), size) << "an event is recorded twice";
  uint64_t id_rows = 0, leaves = 0;
  s = journal.ScanFamily(storage::kIdsFamily, [&](std::string_view, std::string_view value) {
    ++id_rows;
    EXPECT_LE(storage::DecodeU64(value), size) << "an id row points past the head";
    return true;
  });
  ASSERT_TRUE(s.ok()) << s.ToString();
  s = journal.ScanFamily(storage::kTreeFamily, [&](std::string_view key, std::string_view) {
    if (key.size() == 9 && key[0] == 0) ++leaves;
    return true;
  });
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(id_rows, size);
  EXPECT_EQ(leaves, size);
  if (ids_out != nullptr) *ids_out = std::move(ids);
}

}  // namespace fundledger::test
