/*
 * A stand-in for libnvidia-ml.so.1 that exports the symbols gpu/nvml/library.ts opens, so the
 * real bun:ffi binding runs in CI without a GPU. Answers come from settings read at call time:
 * first from overrides set through fake_nvml_set() (tests call it through bun:ffi, because Bun's
 * process.env assignments never reach the C environment), then from the process environment
 * (for a node started from a shell). A setting KEY may be given per device as KEY_<index>.
 *
 *   FAKE_NVML_GPUS=2                 device count (default 1, at most 64)
 *   FAKE_NVML_INIT_ERROR=9           nvmlInit_v2 returns this code
 *   FAKE_NVML_COUNT_ERROR=999        nvmlDeviceGetCount_v2 returns this code
 *   FAKE_NVML_DRIVER=550.54.15       driver version
 *   FAKE_NVML_NAME[_i]=...           device name (default "NVIDIA GeForce RTX 3090")
 *   FAKE_NVML_UUID[_i]=...           device uuid (default GPU-fa4e0000-0000-4000-8000-00000000000<i>)
 *   FAKE_NVML_VRAM_TOTAL[_i]=bytes   default 25769803776 (24 GiB)
 *   FAKE_NVML_VRAM_USED[_i]=bytes    default 0; free = total - used (v2: - reserved)
 *   FAKE_NVML_VRAM_RESERVED[_i]=b    v2 only, default 0
 *   FAKE_NVML_CC[_i]=8.6             compute capability
 *   FAKE_NVML_UTIL_GPU[_i], FAKE_NVML_UTIL_MEM[_i]   percent, default 0
 *   FAKE_NVML_UTIL_NOT_SUPPORTED[_i]=1               utilisation answers NOT_SUPPORTED
 *   FAKE_NVML_DEVICE_ERROR[_i]=15    every call on the device returns this code
 *
 * Compile-time variants: -DFAKE_NVML_MEMORY_V2 adds nvmlDeviceGetMemoryInfo_v2;
 * -DFAKE_NVML_NO_UTILIZATION leaves nvmlDeviceGetUtilizationRates out (an old or odd driver).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEVICES 64
#define MAX_OVERRIDES 64

typedef struct { unsigned index; } fake_device;
typedef struct { unsigned long long total, free, used; } nvmlMemory_t;
typedef struct { unsigned version; unsigned long long total, reserved, free, used; } nvmlMemory_v2_t;
typedef struct { unsigned gpu, memory; } nvmlUtilization_t;

static fake_device devices[MAX_DEVICES];
static int init_refs = 0;
static struct { char key[64]; char value[256]; int used; } overrides[MAX_OVERRIDES];

/* ---- test controls ---------------------------------------------------------------------- */

/* Sets KEY to VALUE for later calls; VALUE NULL removes the override. Returns 0, or -1 when full. */
int fake_nvml_set(const char *key, const char *value) {
  int free_slot = -1;
  for (int i = 0; i < MAX_OVERRIDES; i++) {
    if (overrides[i].used && strcmp(overrides[i].key, key) == 0) {
      if (value == NULL) { overrides[i].used = 0; return 0; }
      snprintf(overrides[i].value, sizeof overrides[i].value, "%s", value);
      return 0;
    }
    if (!overrides[i].used && free_slot < 0) free_slot = i;
  }
  if (value == NULL) return 0;
  if (free_slot < 0) return -1;
  snprintf(overrides[free_slot].key, sizeof overrides[free_slot].key, "%s", key);
  snprintf(overrides[free_slot].value, sizeof overrides[free_slot].value, "%s", value);
  overrides[free_slot].used = 1;
  return 0;
}

/* Drops every override. Init references stay: they belong to probes that are still open. */
void fake_nvml_reset(void) { memset(overrides, 0, sizeof overrides); }

/* How many nvmlInit_v2 calls are not yet matched by nvmlShutdown. */
int fake_nvml_init_refs(void) { return init_refs; }

/* ---- settings ----------------------------------------------------------------------------- */

static const char *setting(const char *key) {
  for (int i = 0; i < MAX_OVERRIDES; i++)
    if (overrides[i].used && strcmp(overrides[i].key, key) == 0) return overrides[i].value;
  return getenv(key);
}

static const char *device_setting(const char *key, unsigned index) {
  char per_device[80];
  snprintf(per_device, sizeof per_device, "%s_%u", key, index);
  const char *v = setting(per_device);
  return v ? v : setting(key);
}

static unsigned long long number(const char *v, unsigned long long fallback) {
  return v && *v ? strtoull(v, NULL, 10) : fallback;
}

static int copy_string(const char *src, char *buf, unsigned length) {
  if (buf == NULL) return 2; /* INVALID_ARGUMENT */
  if (strlen(src) + 1 > length) return 7; /* INSUFFICIENT_SIZE */
  memcpy(buf, src, strlen(src) + 1);
  return 0;
}

/* The common prologue of a device call: initialised, a handle we gave out, no injected error. */
static int check_device(const fake_device *d) {
  if (init_refs == 0) return 1; /* UNINITIALIZED */
  if (d < devices || d >= devices + MAX_DEVICES) return 2;
  return (int)number(device_setting("FAKE_NVML_DEVICE_ERROR", d->index), 0);
}

/* ---- the NVML surface ----------------------------------------------------------------------- */

int nvmlInit_v2(void) {
  int err = (int)number(setting("FAKE_NVML_INIT_ERROR"), 0);
  if (err) return err;
  init_refs++;
  return 0;
}

int nvmlShutdown(void) {
  if (init_refs == 0) return 1;
  init_refs--;
  return 0;
}

const char *nvmlErrorString(int code) {
  switch (code) {
    case 0: return "Success";
    case 1: return "Uninitialized";
    case 2: return "Invalid Argument";
    case 3: return "Not Supported";
    case 7: return "Insufficient Size";
    case 9: return "Driver Not Loaded";
    case 15: return "GPU is lost";
    case 25: return "Argument version mismatch";
    default: return "Unknown Error";
  }
}

int nvmlSystemGetDriverVersion(char *version, unsigned length) {
  if (init_refs == 0) return 1;
  const char *v = setting("FAKE_NVML_DRIVER");
  return copy_string(v ? v : "550.54.15", version, length);
}

int nvmlDeviceGetCount_v2(unsigned *count) {
  if (init_refs == 0) return 1;
  if (count == NULL) return 2;
  int err = (int)number(setting("FAKE_NVML_COUNT_ERROR"), 0);
  if (err) return err;
  unsigned long long n = number(setting("FAKE_NVML_GPUS"), 1);
  *count = (unsigned)(n > MAX_DEVICES ? MAX_DEVICES : n);
  return 0;
}

int nvmlDeviceGetHandleByIndex_v2(unsigned index, fake_device **device) {
  if (init_refs == 0) return 1;
  if (device == NULL || index >= number(setting("FAKE_NVML_GPUS"), 1) || index >= MAX_DEVICES) return 2;
  devices[index].index = index;
  *device = &devices[index];
  return 0;
}

int nvmlDeviceGetName(fake_device *d, char *name, unsigned length) {
  int err = check_device(d);
  if (err) return err;
  const char *v = device_setting("FAKE_NVML_NAME", d->index);
  return copy_string(v ? v : "NVIDIA GeForce RTX 3090", name, length);
}

int nvmlDeviceGetUUID(fake_device *d, char *uuid, unsigned length) {
  int err = check_device(d);
  if (err) return err;
  const char *v = device_setting("FAKE_NVML_UUID", d->index);
  char fallback[64];
  snprintf(fallback, sizeof fallback, "GPU-fa4e0000-0000-4000-8000-%012u", d->index);
  return copy_string(v ? v : fallback, uuid, length);
}

int nvmlDeviceGetMemoryInfo(fake_device *d, nvmlMemory_t *memory) {
  int err = check_device(d);
  if (err) return err;
  if (memory == NULL) return 2;
  memory->total = number(device_setting("FAKE_NVML_VRAM_TOTAL", d->index), 25769803776ULL);
  memory->used = number(device_setting("FAKE_NVML_VRAM_USED", d->index), 0);
  memory->free = memory->used > memory->total ? 0 : memory->total - memory->used;
  return 0;
}

#ifdef FAKE_NVML_MEMORY_V2
int nvmlDeviceGetMemoryInfo_v2(fake_device *d, nvmlMemory_v2_t *memory) {
  int err = check_device(d);
  if (err) return err;
  if (memory == NULL) return 2;
  if (memory->version != (unsigned)(sizeof(nvmlMemory_v2_t) | 2u << 24)) return 25; /* ARGUMENT_VERSION_MISMATCH */
  memory->total = number(device_setting("FAKE_NVML_VRAM_TOTAL", d->index), 25769803776ULL);
  memory->reserved = number(device_setting("FAKE_NVML_VRAM_RESERVED", d->index), 0);
  memory->used = number(device_setting("FAKE_NVML_VRAM_USED", d->index), 0);
  unsigned long long taken = memory->reserved + memory->used;
  memory->free = taken > memory->total ? 0 : memory->total - taken;
  return 0;
}
#endif

int nvmlDeviceGetCudaComputeCapability(fake_device *d, int *major, int *minor) {
  int err = check_device(d);
  if (err) return err;
  if (major == NULL || minor == NULL) return 2;
  const char *v = device_setting("FAKE_NVML_CC", d->index);
  if (v == NULL || sscanf(v, "%d.%d", major, minor) != 2) { *major = 8; *minor = 6; }
  return 0;
}

#ifndef FAKE_NVML_NO_UTILIZATION
int nvmlDeviceGetUtilizationRates(fake_device *d, nvmlUtilization_t *utilization) {
  int err = check_device(d);
  if (err) return err;
  if (utilization == NULL) return 2;
  if (number(device_setting("FAKE_NVML_UTIL_NOT_SUPPORTED", d->index), 0)) return 3;
  utilization->gpu = (unsigned)number(device_setting("FAKE_NVML_UTIL_GPU", d->index), 0);
  utilization->memory = (unsigned)number(device_setting("FAKE_NVML_UTIL_MEM", d->index), 0);
  return 0;
}
#endif
