// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace psa {

/// What the SD pipeline feeds the text encoder: tokenizer(text, padding='max_length',
/// max_length=L, truncation=True).
struct Encoding {
    std::vector<std::int64_t> input_ids;      // [L]: BOS, first L-2 BPE ids, EOS, pad...
    std::vector<std::int64_t> attention_mask; // [L]: 1 on BOS..EOS, 0 on padding
    int num_tokens_untruncated = 0;           // BPE ids + 2 (BOS, EOS)
    bool truncated = false;                   // num_tokens_untruncated > L
};

/// CLIP byte-level BPE, as the Hugging Face slow CLIPTokenizer without ftfy: whitespace runs
/// collapsed, Python lower(), the CLIP word pattern, GPT-2 byte-to-unicode, merges by rank.
/// Cheap to copy (copies share state); const methods are thread-safe (the word cache is locked).
class CLIPTokenizer {
public:
    /// A Hugging Face tokenizer folder: vocab.json, merges.txt and, when present,
    /// tokenizer_config.json / special_tokens_map.json (special tokens, model_max_length).
    /// Throws IoError for a missing, unreadable or malformed file, ConfigError for a special
    /// token that is not in the vocabulary; messages name the file (and merges line).
    static CLIPTokenizer from_dir(const std::filesystem::path& tokenizer_dir);
    /// Just the two vocabulary files; special tokens are CLIP's defaults (pad = EOS).
    static CLIPTokenizer from_files(const std::filesystem::path& vocab_json,
                                    const std::filesystem::path& merges_txt);

    /// BPE strings of the text ("</w>" ends a word), without BOS/EOS.
    std::vector<std::string> bpe_tokens(const std::string& text) const;
    /// Ids of bpe_tokens(text), without BOS/EOS; unknown strings map to the unk id.
    std::vector<std::int64_t> encode(const std::string& text) const;
    /// Padded and truncated to max_length (>= 2, else InvalidRequest).
    Encoding encode_padded(const std::string& text, int max_length = 77) const;
    /// Ids back to text: "</w>" becomes a space, invalid UTF-8 becomes U+FFFD, the ends are
    /// stripped; special tokens are dropped unless asked for. Throws InvalidRequest for an id
    /// outside the vocabulary.
    std::string decode(const std::vector<std::int64_t>& ids, bool skip_special_tokens = true) const;

    std::int64_t bos_id() const;
    std::int64_t eos_id() const;
    std::int64_t pad_id() const;
    std::int64_t unk_id() const;
    /// Entries in vocab.json (49,408 for CLIP).
    std::int64_t vocab_size() const;
    /// tokenizer_config.json model_max_length (77 when absent).
    int model_max_length() const;

private:
    struct Impl;
    explicit CLIPTokenizer(std::shared_ptr<Impl> impl);
    std::shared_ptr<Impl> impl_;
};

} // namespace psa
