#include "batch_reader.h"

#include <errno.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <system_error>

#include "errno_error.h"

namespace tsvpn {

BatchReader::BatchReader(int fd, const ReaderOptions& options) : fd_(fd), options_(options) {}

BatchReader::~BatchReader() {
  // Stop() has joined the thread before any path that deletes the reader.
  if (thread_.joinable()) thread_.detach();
  if (wake_ >= 0) close(wake_);
}

void BatchReader::AllocateSlabs(Napi::Env env) {
  slabs_.resize(options_.slabs);
  free_.reserve(options_.slabs);
  for (uint32_t i = 0; i < options_.slabs; i++) {
    Slab& s = slabs_[i];
    s.index = i;
    Napi::Object bundle = Napi::Object::New(env);
    Napi::Buffer<uint8_t> buf = Napi::Buffer<uint8_t>::New(env, options_.slabBytes);
    const size_t slots = options_.slots != 0 ? options_.slots : options_.batch;
    Napi::Uint32Array offsets = Napi::Uint32Array::New(env, slots);
    Napi::Uint32Array lengths = Napi::Uint32Array::New(env, slots);
    s.data = buf.Data();
    s.size = buf.Length();
    s.offsets = offsets.Data();
    s.lengths = lengths.Data();
    bundle.Set("buf", buf);
    bundle.Set("offsets", offsets);
    bundle.Set("lengths", lengths);
    if (options_.withAddrs) {
      Napi::Uint8Array addrs = Napi::Uint8Array::New(env, size_t{options_.batch} * 16);
      Napi::Uint16Array ports = Napi::Uint16Array::New(env, options_.batch);
      s.addrs = addrs.Data();
      s.ports = ports.Data();
      bundle.Set("addrs", addrs);
      bundle.Set("ports", ports);
    }
    s.bundle = Napi::Persistent(bundle);
    free_.push_back(&s);
  }
}

Napi::Array BatchReader::SlabObjects(Napi::Env env) {
  Napi::Array out = Napi::Array::New(env, slabs_.size());
  for (uint32_t i = 0; i < slabs_.size(); i++) out.Set(i, slabs_[i].bundle.Value());
  return out;
}

bool BatchReader::Start(Napi::Env env, Napi::Function cb) {
  if (started_) {
    Napi::Error::New(env, "the reader is already started").ThrowAsJavaScriptException();
    return false;
  }
  wake_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_ < 0) {
    ErrnoError(env, errno, "eventfd", "cannot create the reader's wake-up eventfd")
        .ThrowAsJavaScriptException();
    return false;
  }
  napi_value name = Napi::String::New(env, "tsvpn:batch-reader");
  // Unlimited queue: at most `slabs` calls are ever queued, so the thread never
  // blocks in the call (and Stop() can always join it).
  napi_status st = napi_create_threadsafe_function(env, cb, nullptr, name, 0, 1, this, Finalize,
                                                   this, CallJs, &tsfn_);
  if (st != napi_ok) {
    Napi::Error::New(env, "cannot create the reader's thread-safe function")
        .ThrowAsJavaScriptException();
    return false;
  }
  env_ = env;
  started_ = true;
  // Registered after the thread-safe function, so at environment teardown it
  // runs first (hooks run in reverse order) and joins the thread.
  if (napi_add_env_cleanup_hook(env, CleanupHook, this) == napi_ok) hookRegistered_ = true;
  try {
    thread_ = std::thread(&BatchReader::Run, this);
  } catch (const std::system_error& e) {
    Stop();
    ErrnoError(env, e.code().value(), "pthread_create", "cannot start the reader thread")
        .ThrowAsJavaScriptException();
    return false;
  }
  return true;
}

void BatchReader::Ref(Napi::Env env) {
  if (started_ && !tsfnReleased_) napi_ref_threadsafe_function(env, tsfn_);
}

void BatchReader::Unref(Napi::Env env) {
  if (started_ && !tsfnReleased_) napi_unref_threadsafe_function(env, tsfn_);
}

void BatchReader::Stop() {
  if (stopped_) return;
  stopped_ = true;
  if (!started_) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_.store(true);
  }
  cv_.notify_all();
  uint64_t one = 1;
  ssize_t ignored = write(wake_, &one, sizeof one);
  (void)ignored;
  if (thread_.joinable()) thread_.join();
  if (hookRegistered_) {
    hookRegistered_ = false;
    napi_remove_env_cleanup_hook(env_, CleanupHook, this);
  }
  if (!tsfnReleased_) {
    tsfnReleased_ = true;
    napi_release_threadsafe_function(tsfn_, napi_tsfn_release);
  }
}

void BatchReader::Dispose() {
  disposed_ = true;
  if (!started_ || finalized_) delete this;
  // Otherwise Finalize() deletes it once the queued calls are drained.
}

void BatchReader::Run() {
  for (;;) {
    Slab* s = Acquire();
    if (s == nullptr) return;
    int n = 0;
    int err = 0;
    while (!stop_.load()) {
      n = Fill(*s, &err);
      if (n > 0) break;
      if (n < 0 && err != EAGAIN && err != EWOULDBLOCK && err != EINTR) break;
      n = 0;
      pollfd fds[2] = {{fd_, POLLIN, 0}, {wake_, POLLIN, 0}};
      int r = poll(fds, 2, -1);
      if (r < 0) {
        if (errno == EINTR) continue;
        err = errno;
        n = -1;
        break;
      }
      if (fds[1].revents != 0) break;  // Stop() woke us
      if (fds[0].revents & POLLERR) DrainErrors();  // ICMP errors for what we sent (IP_RECVERR)
      if (fds[0].revents & POLLNVAL) {
        err = EBADF;
        n = -1;
        break;
      }
    }
    if (n > 0) {
      s->count = static_cast<uint32_t>(n);
      rxBatches_.fetch_add(1, std::memory_order_relaxed);
      if (napi_call_threadsafe_function(tsfn_, s, napi_tsfn_nonblocking) != napi_ok) {
        Release(s);  // the environment is closing
        return;
      }
      continue;
    }
    Release(s);
    if (n < 0) {
      failure_.err = err;
      napi_call_threadsafe_function(tsfn_, &failure_, napi_tsfn_nonblocking);
      return;
    }
    if (stop_.load()) return;
  }
}

Slab* BatchReader::Acquire() {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [this] { return stop_.load() || !free_.empty(); });
  if (stop_.load()) return nullptr;
  Slab* s = free_.back();
  free_.pop_back();
  return s;
}

void BatchReader::Release(Slab* slab) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    free_.push_back(slab);
  }
  cv_.notify_one();
}

void BatchReader::CallJs(napi_env env, napi_value cb, void* context, void* data) {
  auto* self = static_cast<BatchReader*>(context);
  const bool live = env != nullptr && cb != nullptr && !self->stop_.load();
  if (data == &self->failure_) {
    if (!live) return;
    Napi::Env e(env);
    Napi::Error error = ErrnoError(e, self->failure_.err, self->ReadSyscall(),
                                   "reading packets failed; the reader has stopped",
                                   self->FailureHint(self->failure_.err));
    napi_value args[3] = {Napi::Number::New(e, -1), Napi::Number::New(e, 0), error.Value()};
    napi_call_function(env, Napi::Env(env).Undefined(), cb, 3, args, nullptr);
    return;
  }
  Slab* s = static_cast<Slab*>(data);
  if (live) {
    Napi::Env e(env);
    napi_value args[2] = {Napi::Number::New(e, s->index), Napi::Number::New(e, s->count)};
    // A throwing callback surfaces as an uncaught exception; the slab is
    // recycled either way.
    napi_call_function(env, e.Undefined(), cb, 2, args, nullptr);
  }
  self->Release(s);
}

void BatchReader::Finalize(napi_env env, void* data, void* hint) {
  auto* self = static_cast<BatchReader*>(data);
  self->finalized_ = true;
  self->tsfnReleased_ = true;  // the function is gone; never release it again
  self->Stop();
  if (self->disposed_) delete self;
}

void BatchReader::CleanupHook(void* arg) {
  auto* self = static_cast<BatchReader*>(arg);
  self->hookRegistered_ = false;  // Node drops the hook after it runs
  self->Stop();
}

Napi::Object StatsObject(Napi::Env env, const BatchReader* reader, const TxCounters& tx) {
  Napi::Object out = Napi::Object::New(env);
  const bool r = reader != nullptr;
  out.Set("rxPackets", Napi::Number::New(env, r ? double(reader->rxPackets()) : 0));
  out.Set("rxBytes", Napi::Number::New(env, r ? double(reader->rxBytes()) : 0));
  out.Set("rxBatches", Napi::Number::New(env, r ? double(reader->rxBatches()) : 0));
  out.Set("rxErrors", Napi::Number::New(env, r ? double(reader->rxErrors()) : 0));
  out.Set("txPackets", Napi::Number::New(env, double(tx.txPackets)));
  out.Set("txBytes", Napi::Number::New(env, double(tx.txBytes)));
  out.Set("txErrors", Napi::Number::New(env, double(tx.txErrors)));
  out.Set("txGso", Napi::Number::New(env, double(tx.txGso)));
  return out;
}

}  // namespace tsvpn
