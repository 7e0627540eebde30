// SPDX-License-Identifier: GPL-3.0-or-later
#include "tensor_io/device.h"

#include "common/error.h"

#include <torch/torch.h>
#include <torch/version.h>

#include <cstdlib>
#include <dlfcn.h>
#include <sstream>
#include <thread>

namespace psa {

c10::Device choose_device(const std::string& preference)
{
    std::string pref = preference.empty() ? "auto" : preference;
    if (pref == "auto") {
        if (const char* env = std::getenv("PSA_DEVICE"); env && *env && std::string(env) != "auto")
            pref = env;
    }
    if (pref == "auto")
        return torch::cuda::is_available() ? c10::Device(c10::kCUDA, 0) : c10::Device(c10::kCPU);
    if (pref == "cpu")
        return c10::Device(c10::kCPU);
    if (pref.rfind("cuda", 0) == 0) {
        int index = 0;
        if (pref.size() > 4) {
            if (pref[4] != ':' || pref.size() == 5 ||
                pref.find_first_not_of("0123456789", 5) != std::string::npos)
                throw InvalidRequest("device \"" + pref + "\": expected cuda or cuda:N");
            index = std::stoi(pref.substr(5));
        }
        if (!torch::cuda::is_available())
            throw InvalidRequest("device \"" + pref +
                                 "\": CUDA is not available (this LibTorch is CPU-only or no GPU "
                                 "is visible); use --device cpu");
        if (index >= static_cast<int>(torch::cuda::device_count()))
            throw InvalidRequest("device \"" + pref + "\": only " +
                                 std::to_string(torch::cuda::device_count()) + " CUDA device(s)");
        return c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(index));
    }
    throw InvalidRequest("device \"" + pref + "\": expected auto, cpu, cuda or cuda:N");
}

c10::ScalarType choose_dtype(const c10::Device& device, const std::string& preference)
{
    const std::string pref = preference.empty() ? "auto" : preference;
    if (pref == "auto")
        return device.is_cuda() ? c10::ScalarType::Half : c10::ScalarType::Float;
    if (pref == "fp32" || pref == "float32")
        return c10::ScalarType::Float;
    if (pref == "bf16" || pref == "bfloat16")
        return c10::ScalarType::BFloat16;
    if (pref == "fp16" || pref == "float16") {
        if (!device.is_cuda())
            throw InvalidRequest("dtype fp16 needs a CUDA device; on the CPU use fp32 or bf16");
        return c10::ScalarType::Half;
    }
    throw InvalidRequest("dtype \"" + pref + "\": expected auto, fp32, fp16 or bf16");
}

std::string dtype_label(c10::ScalarType type)
{
    switch (type) {
    case c10::ScalarType::Float: return "fp32";
    case c10::ScalarType::Half: return "fp16";
    case c10::ScalarType::BFloat16: return "bf16";
    default: return c10::toString(type);
    }
}

int configure_threads(int requested)
{
    int n = requested;
    if (n <= 0) {
        if (const char* env = std::getenv("PSA_THREADS"); env && *env)
            n = std::atoi(env);
    }
    if (n <= 0)
        n = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    torch::set_num_threads(n);
    // Torch already spreads work over its own OpenMP threads; OpenBLAS's pthread pool on top
    // oversubscribes the cores (measured on 2 cores: tiny UNet 0.16 s -> 0.09 s, SD 1.5 text
    // encode 2.8 s -> 1.8 s with one BLAS thread). $PSA_BLAS_THREADS overrides.
    int blas = 1;
    if (const char* env = std::getenv("PSA_BLAS_THREADS"); env && *env)
        blas = std::max(1, std::atoi(env));
    using SetThreads = void (*)(int);
    if (auto set = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads")))
        set(blas);
    return torch::get_num_threads();
}

std::string blas_description()
{
    using GetConfig = char* (*)();
    using GetThreads = int (*)();
    auto config = reinterpret_cast<GetConfig>(dlsym(RTLD_DEFAULT, "openblas_get_config"));
    auto threads = reinterpret_cast<GetThreads>(dlsym(RTLD_DEFAULT, "openblas_get_num_threads"));
    if (!config)
        return "reference BLAS or other (install libopenblas0-pthread for speed)";
    std::string s = config(); // "OpenBLAS 0.3.21 ... MAX_THREADS=64"
    if (threads)
        s += ", " + std::to_string(threads()) + " BLAS thread(s)";
    return s;
}

std::string torch_version() { return TORCH_VERSION; }

std::string runtime_summary()
{
    std::ostringstream s;
    s << "LibTorch " << torch_version() << "\n";
    if (torch::cuda::is_available())
        // device_count() is c10::DeviceIndex, a char-sized integer in LibTorch 2.x: print it as a number.
        s << "CUDA: " << static_cast<int>(torch::cuda::device_count()) << " device(s)\n";
    else
        s << "CUDA: not available\n";
    s << "threads: " << torch::get_num_threads() << " of "
      << std::thread::hardware_concurrency() << " cores\n";
    s << "BLAS: " << blas_description() << "\n";
    return s.str();
}

} // namespace psa
