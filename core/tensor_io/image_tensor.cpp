// SPDX-License-Identifier: GPL-3.0-or-later
#include "tensor_io/image_tensor.h"

#include "common/atomic_file.h"
#include "common/error.h"

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <torch/torch.h>

#include <algorithm>
#include <cstring>

namespace psa {

namespace fs = std::filesystem;

Image tensor_to_image(const at::Tensor& chw01)
{
    TORCH_CHECK(chw01.dim() == 3 && chw01.size(0) == 3, "tensor_to_image expects [3, H, W], got ",
                chw01.sizes());
    auto u8 = (chw01.detach().to(torch::kCPU, torch::kFloat).clamp(0, 1) * 255.0)
                  .round()
                  .to(torch::kUInt8)
                  .permute({1, 2, 0})
                  .contiguous(); // [H, W, 3]
    Image img;
    img.height = static_cast<int>(u8.size(0));
    img.width = static_cast<int>(u8.size(1));
    img.rgb.resize(static_cast<size_t>(u8.numel()));
    std::memcpy(img.rgb.data(), u8.data_ptr(), img.rgb.size());
    return img;
}

std::vector<Image> tensor_to_images(const at::Tensor& bchw01)
{
    TORCH_CHECK(bchw01.dim() == 4, "tensor_to_images expects [B, 3, H, W], got ", bchw01.sizes());
    std::vector<Image> out;
    for (int64_t i = 0; i < bchw01.size(0); ++i)
        out.push_back(tensor_to_image(bchw01[i]));
    return out;
}

at::Tensor image_to_tensor(const Image& image)
{
    auto t = torch::empty({image.height, image.width, 3}, torch::kUInt8);
    std::memcpy(t.data_ptr(), image.rgb.data(), image.rgb.size());
    return t.permute({2, 0, 1}).to(torch::kFloat).div(255.0).contiguous();
}

Image load_image(const fs::path& path)
{
    std::vector<std::uint8_t> bytes = read_file_bytes(path);
    cv::Mat bgr;
    try {
        bgr = cv::imdecode(bytes, cv::IMREAD_COLOR);
    } catch (const cv::Exception& e) {
        throw IoError(path_message(path.string(), std::string("cannot decode image: ") + e.what()));
    }
    if (bgr.empty())
        throw IoError(path_message(path.string(), "not a readable image (PNG, JPEG, WebP, BMP)"));
    cv::Mat rgb;
    cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
    Image img;
    img.width = rgb.cols;
    img.height = rgb.rows;
    img.rgb.resize(static_cast<size_t>(rgb.total() * 3));
    for (int y = 0; y < rgb.rows; ++y)
        std::memcpy(img.rgb.data() + static_cast<size_t>(y) * rgb.cols * 3, rgb.ptr(y),
                    static_cast<size_t>(rgb.cols) * 3);
    return img;
}

void save_image(const fs::path& path, const Image& image, const PngTextEntries& png_text, int quality)
{
    if (image.empty() || image.rgb.size() != static_cast<size_t>(image.width) * image.height * 3)
        throw IoError(path_message(path.string(), "cannot save an empty or inconsistent image"));
    std::string ext = path.extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
    std::vector<int> params;
    if (ext == ".jpg" || ext == ".jpeg")
        params = {cv::IMWRITE_JPEG_QUALITY, quality};
    else if (ext == ".webp")
        params = {cv::IMWRITE_WEBP_QUALITY, quality};
    else if (ext != ".png")
        throw IoError(path_message(path.string(), "unsupported image type \"" + ext +
                                                      "\" (use .png, .jpg or .webp)"));
    cv::Mat rgb(image.height, image.width, CV_8UC3, const_cast<std::uint8_t*>(image.rgb.data()));
    cv::Mat bgr;
    cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
    std::vector<std::uint8_t> encoded;
    bool ok = false;
    try {
        ok = cv::imencode(ext, bgr, encoded, params);
    } catch (const cv::Exception& e) {
        throw IoError(path_message(path.string(), std::string("cannot encode image: ") + e.what()));
    }
    if (!ok)
        throw IoError(path_message(path.string(), "cannot encode image as " + ext));
    if (ext == ".png" && !png_text.empty())
        encoded = png_with_text(encoded, png_text, path.string());
    write_file_atomic(path, std::string_view(reinterpret_cast<const char*>(encoded.data()), encoded.size()));
}

std::map<std::string, std::string> read_image_text(const fs::path& path)
{
    const auto bytes = read_file_bytes(path);
    static const std::uint8_t kSig[4] = {0x89, 'P', 'N', 'G'};
    if (bytes.size() < 8 || std::memcmp(bytes.data(), kSig, 4) != 0)
        return {};
    return png_read_text(bytes, path.string());
}

} // namespace psa
