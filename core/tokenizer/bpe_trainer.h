// SPDX-License-Identifier: GPL-3.0-or-later
// Learning a CLIP-style byte-level BPE vocabulary from a caption corpus, written in the Hugging Face
// layout that CLIPTokenizer::from_dir reads (vocab.json, merges.txt, tokenizer_config.json,
// special_tokens_map.json).
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace psa {

struct BpeTrainerOptions {
    /// Upper bound on the vocabulary (256 bytes + 256 word-final bytes + merges + 2 specials);
    /// 0 = no bound. Learning also stops when no pair occurs min_frequency times.
    std::int64_t vocab_size = 0;
    /// A pair must occur at least this often (counting word frequencies) to be merged.
    std::int64_t min_frequency = 1;
};

/// A learned vocabulary: tokens in id order and merges in rank order.
struct BpeVocabulary {
    std::vector<std::string> tokens;                          ///< id -> token
    std::vector<std::pair<std::string, std::string>> merges;  ///< rank -> (left, right)
    std::int64_t bos_id() const { return static_cast<std::int64_t>(tokens.size()) - 2; }
    std::int64_t eos_id() const { return static_cast<std::int64_t>(tokens.size()) - 1; }
};

/// Words are split exactly as CLIPTokenizer splits text (whitespace collapsed, lower-cased, the
/// CLIP word pattern, GPT-2 byte symbols, "</w>" on the last symbol). Each step merges the most
/// frequent adjacent pair (ties: the lexicographically smallest (left, right)). Ids: the 256 byte
/// symbols, the 256 word-final ones, one per merge in rank order, then <|startoftext|> and
/// <|endoftext|> (so EOS has the largest id, as CLIP's pooling assumes). Throws InvalidRequest
/// for an empty corpus or a vocab_size below 514.
BpeVocabulary learn_bpe(const std::vector<std::string>& corpus, const BpeTrainerOptions& options = {});

/// Writes vocab.json, merges.txt ("#version: 0.2" first), tokenizer_config.json and
/// special_tokens_map.json into `dir` (created), each atomically. pad = <|endoftext|> as in SD 1.5.
void write_clip_tokenizer_files(const BpeVocabulary& vocab, const std::filesystem::path& dir,
                                int model_max_length);

} // namespace psa
