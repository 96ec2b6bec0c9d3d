// A reader thread that fills preallocated slabs with packets and hands each
// filled slab to JS through one thread-safe function call.
//
// Back-pressure: there are `slabs` slabs. The thread takes a free slab, fills it
// with up to `batch` packets, and queues it to JS; the slab returns to the free
// list when the JS callback returns. When JS is slow, all slabs are in flight,
// the thread waits, and the kernel queue absorbs (then drops) the excess.
// No allocation happens per packet or per batch.
//
// The slab memory is JS-owned (Buffers and typed arrays created at setup and
// held by references), so a JS object that outlives close() never sees freed
// memory. JS must treat a batch as valid only during its callback.
#pragma once

#include <napi.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace tsvpn {

struct ReaderOptions {
  uint32_t slabs = 4;       // batches in flight at most
  uint32_t batch = 64;      // packets per batch at most
  uint32_t slots = 0;       // offsets/lengths entries per slab (0: batch)
  size_t slabBytes = 0;     // bytes per slab buffer
  bool withAddrs = false;   // per-packet source address (16 bytes) and port
};

struct Slab {
  uint32_t index = 0;
  uint32_t count = 0;  // packets in the batch being delivered
  uint8_t* data = nullptr;
  size_t size = 0;
  uint32_t* offsets = nullptr;
  uint32_t* lengths = nullptr;
  uint8_t* addrs = nullptr;   // 16 bytes per packet (IPv4 as ::ffff:a.b.c.d)
  uint16_t* ports = nullptr;  // host byte order
  Napi::ObjectReference bundle;  // { buf, offsets, lengths[, addrs, ports] }
};

class BatchReader {
 public:
  BatchReader(int fd, const ReaderOptions& options);
  virtual ~BatchReader();
  BatchReader(const BatchReader&) = delete;
  BatchReader& operator=(const BatchReader&) = delete;

  // JS thread. Creates the slab buffers; the array of bundles for JS.
  void AllocateSlabs(Napi::Env env);
  Napi::Array SlabObjects(Napi::Env env);

  // JS thread. Starts the thread; cb(slabIndex, count) per batch and
  // cb(-1, 0, error) once if reading fails for good. False with a JS
  // exception pending on failure.
  bool Start(Napi::Env env, Napi::Function cb);
  void Ref(Napi::Env env);
  void Unref(Napi::Env env);
  // JS thread. Wakes and joins the thread. Idempotent.
  void Stop();
  // JS thread, after Stop(): frees the reader now, or from the thread-safe
  // function's finalizer if that has not run yet.
  void Dispose();

  bool started() const { return started_; }
  uint64_t rxPackets() const { return rxPackets_.load(std::memory_order_relaxed); }
  uint64_t rxBytes() const { return rxBytes_.load(std::memory_order_relaxed); }
  uint64_t rxBatches() const { return rxBatches_.load(std::memory_order_relaxed); }
  uint64_t rxErrors() const { return rxErrors_.load(std::memory_order_relaxed); }

 protected:
  // Reader thread. Reads packets into the slab without blocking; returns the
  // count (> 0), 0 or -1 with *err = EAGAIN when nothing is ready, or -1 with
  // *err set when reading has failed for good.
  virtual int Fill(Slab& slab, int* err) = 0;
  // The system call named in a fatal read error.
  virtual const char* ReadSyscall() const = 0;
  // What a fatal read error means for this kind of fd ("" for strerror).
  virtual std::string FailureHint(int err) const { return ""; }
  // Reader thread, when poll() reports POLLERR: empty the socket's error queue
  // (IP_RECVERR), or the reader would wake for it forever. Default: nothing queued.
  virtual void DrainErrors() {}

  const int fd_;
  const ReaderOptions options_;
  std::atomic<uint64_t> rxPackets_{0};
  std::atomic<uint64_t> rxBytes_{0};
  std::atomic<uint64_t> rxBatches_{0};
  std::atomic<uint64_t> rxErrors_{0};

 private:
  struct Failure {
    int err = 0;
  };

  void Run();
  Slab* Acquire();
  void Release(Slab* slab);
  static void CallJs(napi_env env, napi_value cb, void* context, void* data);
  static void Finalize(napi_env env, void* data, void* hint);
  static void CleanupHook(void* arg);

  std::vector<Slab> slabs_;
  std::vector<Slab*> free_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  int wake_ = -1;  // eventfd that wakes poll() on Stop()
  Failure failure_;
  napi_env env_ = nullptr;
  napi_threadsafe_function tsfn_ = nullptr;
  bool started_ = false;
  bool stopped_ = false;
  bool hookRegistered_ = false;
  bool tsfnReleased_ = false;
  bool finalized_ = false;
  bool disposed_ = false;
};

// What an endpoint wrote; packets the kernel refused are counted in txErrors, never thrown.
struct TxCounters {
  uint64_t txPackets = 0;
  uint64_t txBytes = 0;
  uint64_t txErrors = 0;
  uint64_t txGso = 0;  // messages the kernel segmented into several datagrams (UDP_SEGMENT)
};

// { rxPackets, rxBytes, rxBatches, rxErrors, txPackets, txBytes, txErrors, txGso }
// (reader may be null: zero rx counters).
Napi::Object StatsObject(Napi::Env env, const BatchReader* reader, const TxCounters& tx);

}  // namespace tsvpn
