// SPDX-License-Identifier: GPL-3.0-or-later
// The image-caption set the demo model pretrains on: a Hugging Face imagefolder-style
// metadata.jsonl ({"file_name", "caption", ...} per line; other keys are ignored). An optional
// "focus_boxes" ([[x0, y0, x1, y1], ...] in unit image coordinates) marks where the image's objects
// are, for a loss that weights them above the background (psa world generate writes them).
#pragma once
#include "common/unit_box.h"

#include <filesystem>
#include <string>
#include <vector>

namespace psa {

struct CaptionedImage {
    std::filesystem::path image; ///< resolved path
    std::string caption;
    int line = 0;                ///< 1-based line of metadata.jsonl, for messages
    std::vector<UnitBox> focus_boxes; ///< empty when the line has none
};

class CaptionImageSet {
public:
    /// `data` is a world folder (its base/metadata.jsonl is read), a folder holding
    /// metadata.jsonl, or the .jsonl file itself. file_name is relative to the metadata file's
    /// folder (the imagefolder convention; "../images/x.png" is fine); when nothing is there, it is
    /// tried relative to the folder above (a world folder's root). Blank lines are skipped.
    /// Throws IoError "<metadata.jsonl>:<line>: ..." for malformed JSON, a missing or non-string
    /// file_name/caption, an image that does not exist, or a focus box that is not four numbers
    /// 0 <= x0 < x1 <= 1, 0 <= y0 < y1 <= 1, and IoError naming the file for a
    /// missing metadata file or a set with no images.
    static CaptionImageSet load(const std::filesystem::path& data);

    const std::filesystem::path& metadata_path() const { return metadata_; }
    const std::vector<CaptionedImage>& items() const { return items_; }
    size_t size() const { return items_.size(); }
    std::vector<std::string> captions() const;
    /// Whether any image has focus boxes.
    bool has_focus_boxes() const;

private:
    std::filesystem::path metadata_;
    std::vector<CaptionedImage> items_;
};

} // namespace psa
