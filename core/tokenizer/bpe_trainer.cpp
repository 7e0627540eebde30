// SPDX-License-Identifier: GPL-3.0-or-later
// Byte-level BPE learning (Sennrich et al. 2016, with GPT-2's byte alphabet and CLIP's "</w>"
// word ends). The corpus of this project is small (a closed world's captions), so pair counts are
// simply recounted after every merge: clarity over the incremental bookkeeping of large learners.
#include "tokenizer/bpe_trainer.h"

#include "common/atomic_file.h"
#include "common/error.h"
#include "tokenizer/byte_symbols.h"
#include "tokenizer/unicode_text.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <limits>
#include <map>

namespace psa {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

constexpr const char* kEndOfWord = "</w>";
constexpr const char* kStartOfText = "<|startoftext|>";
constexpr const char* kEndOfText = "<|endoftext|>";

// The base alphabet: the 256 byte symbols, then the same with "</w>" (ids are ours to choose;
// CLIPTokenizer only needs every symbol string to be present).
std::vector<std::string> base_alphabet(const std::array<std::string, 256>& symbols)
{
    std::vector<std::string> out(symbols.begin(), symbols.end());
    for (const auto& s : symbols)
        out.push_back(s + kEndOfWord);
    return out;
}

using Word = std::vector<std::string>;

// Word (as symbols) -> how often it occurs in the corpus.
std::map<Word, std::int64_t> count_words(const std::vector<std::string>& corpus,
                                         const std::array<std::string, 256>& symbols)
{
    std::map<Word, std::int64_t> words;
    for (const auto& text : corpus) {
        const auto clean = unicode::to_lower(unicode::whitespace_clean(unicode::decode_utf8(text)));
        for (const auto& piece : unicode::split_words(clean)) {
            if (piece == kStartOfText || piece == kEndOfText)
                continue; // the tokenizer cuts these out before BPE
            Word w;
            for (const char c : piece)
                w.push_back(symbols[static_cast<unsigned char>(c)]);
            if (w.empty())
                continue;
            w.back() += kEndOfWord;
            ++words[w];
        }
    }
    return words;
}

Word apply_merge(const Word& w, const std::string& left, const std::string& right)
{
    Word out;
    out.reserve(w.size());
    for (size_t i = 0; i < w.size();) {
        if (i + 1 < w.size() && w[i] == left && w[i + 1] == right) {
            out.push_back(left + right);
            i += 2;
        } else {
            out.push_back(w[i++]);
        }
    }
    return out;
}

} // namespace

BpeVocabulary learn_bpe(const std::vector<std::string>& corpus, const BpeTrainerOptions& options)
{
    const auto& symbols = byte_symbols().symbol;
    BpeVocabulary vocab;
    vocab.tokens = base_alphabet(symbols);
    const std::int64_t fixed = static_cast<std::int64_t>(vocab.tokens.size()) + 2;
    if (options.vocab_size != 0 && options.vocab_size < fixed)
        throw InvalidRequest("BPE vocab_size " + std::to_string(options.vocab_size) +
                             " is below the byte alphabet and specials (" + std::to_string(fixed) + ")");
    auto words = count_words(corpus, symbols);
    if (words.empty())
        throw InvalidRequest("BPE learning: the corpus has no words (" + std::to_string(corpus.size()) +
                             " captions)");

    const std::int64_t max_merges =
        options.vocab_size == 0 ? std::numeric_limits<std::int64_t>::max() : options.vocab_size - fixed;
    const std::int64_t min_frequency = std::max<std::int64_t>(1, options.min_frequency);
    while (static_cast<std::int64_t>(vocab.merges.size()) < max_merges) {
        std::map<std::pair<std::string, std::string>, std::int64_t> pairs;
        for (const auto& [w, n] : words)
            for (size_t i = 0; i + 1 < w.size(); ++i)
                pairs[{w[i], w[i + 1]}] += n;
        // The ordered map visits pairs lexicographically, so the first maximum wins ties.
        const std::pair<std::string, std::string>* best = nullptr;
        std::int64_t best_count = 0;
        for (const auto& [pair, n] : pairs)
            if (n > best_count) {
                best = &pair;
                best_count = n;
            }
        if (!best || best_count < min_frequency)
            break;
        const auto [left, right] = *best;
        vocab.merges.emplace_back(left, right);
        vocab.tokens.push_back(left + right);
        std::map<Word, std::int64_t> merged;
        for (const auto& [w, n] : words)
            merged[apply_merge(w, left, right)] += n;
        words = std::move(merged);
    }
    vocab.tokens.emplace_back(kStartOfText);
    vocab.tokens.emplace_back(kEndOfText);
    return vocab;
}

void write_clip_tokenizer_files(const BpeVocabulary& vocab, const fs::path& dir, int model_max_length)
{
    if (vocab.tokens.size() < 2)
        throw InvalidRequest("write_clip_tokenizer_files: the vocabulary has no special tokens");
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec)
        throw IoError(path_message(dir.string(), "cannot create the tokenizer folder: " + ec.message()));

    json v = json::object();
    for (size_t id = 0; id < vocab.tokens.size(); ++id)
        v[vocab.tokens[id]] = id;
    if (v.size() != vocab.tokens.size())
        throw InvalidRequest("write_clip_tokenizer_files: the vocabulary repeats a token");
    write_file_atomic(dir / "vocab.json", v.dump() + "\n");

    std::string merges = "#version: 0.2\n";
    for (const auto& [left, right] : vocab.merges)
        merges += left + " " + right + "\n";
    write_file_atomic(dir / "merges.txt", merges);

    const auto added = [](const char* content) {
        return json{{"__type", "AddedToken"}, {"content", content}, {"lstrip", false},
                    {"normalized", true},     {"rstrip", false},    {"single_word", false}};
    };
    const json config = {{"add_prefix_space", false},
                         {"bos_token", added(kStartOfText)},
                         {"do_lower_case", true},
                         {"eos_token", added(kEndOfText)},
                         {"errors", "replace"},
                         {"model_max_length", model_max_length},
                         {"pad_token", kEndOfText},
                         {"tokenizer_class", "CLIPTokenizer"},
                         {"unk_token", added(kEndOfText)}};
    write_file_atomic(dir / "tokenizer_config.json", config.dump(2) + "\n");
    const json special = {{"bos_token", kStartOfText},
                          {"eos_token", kEndOfText},
                          {"pad_token", kEndOfText},
                          {"unk_token", kEndOfText}};
    write_file_atomic(dir / "special_tokens_map.json", special.dump(2) + "\n");
}

} // namespace psa
