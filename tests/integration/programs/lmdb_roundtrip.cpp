// LMDB on a volume: it writes with pwrite and reads through a read-only
// MAP_SHARED map of the same file, so a mapping that is a copy reads an empty
// database back. Puts records, reads them back in a new transaction and after
// reopening the environment, and prints what it read.
#include <lmdb.h>

#include <cstdio>
#include <string>

namespace {

bool check(int status, const char* what) {
  if (status == MDB_SUCCESS) return true;
  std::printf("%s: %s\n", what, mdb_strerror(status));
  return false;
}

bool open_environment(MDB_env** environment, const char* directory) {
  return check(mdb_env_create(environment), "mdb_env_create") &&
         check(mdb_env_set_mapsize(*environment, 8u << 20), "mdb_env_set_mapsize") &&
         check(mdb_env_open(*environment, directory, MDB_NOSUBDIR, 0644), "mdb_env_open");
}

int read_back(MDB_env* environment, int records, const char* when) {
  MDB_txn* transaction = nullptr;
  MDB_dbi database = 0;
  if (!check(mdb_txn_begin(environment, nullptr, MDB_RDONLY, &transaction), "mdb_txn_begin") ||
      !check(mdb_dbi_open(transaction, nullptr, 0, &database), "mdb_dbi_open")) {
    return 1;
  }
  int found = 0;
  std::string sample;
  for (int i = 0; i < records; ++i) {
    std::string key = "key" + std::to_string(i);
    MDB_val k{key.size(), key.data()};
    MDB_val value;
    if (mdb_get(transaction, database, &k, &value) != MDB_SUCCESS) continue;
    ++found;
    if (i == records / 2) sample.assign(static_cast<const char*>(value.mv_data), value.mv_size);
  }
  MDB_stat stat;
  mdb_stat(transaction, database, &stat);
  std::printf("%s: %d of %d records, %zu entries, key%d = '%s'\n", when, found, records,
              static_cast<size_t>(stat.ms_entries), records / 2, sample.c_str());
  mdb_txn_abort(transaction);
  return found == records ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: lmdb_roundtrip DATABASE-FILE\n");
    return 2;
  }
  constexpr int kRecords = 2000;
  MDB_env* environment = nullptr;
  if (!open_environment(&environment, argv[1])) return 1;
  MDB_txn* transaction = nullptr;
  MDB_dbi database = 0;
  if (!check(mdb_txn_begin(environment, nullptr, 0, &transaction), "mdb_txn_begin") ||
      !check(mdb_dbi_open(transaction, nullptr, 0, &database), "mdb_dbi_open")) {
    return 1;
  }
  for (int i = 0; i < kRecords; ++i) {
    std::string key = "key" + std::to_string(i);
    std::string value = "value " + std::to_string(i * 7) + std::string(static_cast<size_t>(i % 50), '.');
    MDB_val k{key.size(), key.data()};
    MDB_val v{value.size(), value.data()};
    if (!check(mdb_put(transaction, database, &k, &v, 0), "mdb_put")) return 1;
  }
  if (!check(mdb_txn_commit(transaction), "mdb_txn_commit")) return 1;
  int failed = read_back(environment, kRecords, "same environment");
  mdb_env_close(environment);
  if (!open_environment(&environment, argv[1])) return 1;
  failed |= read_back(environment, kRecords, "reopened");
  mdb_env_close(environment);
  return failed;
}
