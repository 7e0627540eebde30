// SPDX-License-Identifier: GPL-3.0-or-later
// CLIP BPE after the Hugging Face slow CLIPTokenizer (transformers models/clip/
// tokenization_clip.py) and openai/CLIP simple_tokenizer.py, minus ftfy.fix_text. Merges are
// interned to integer symbols so that a BPE step is a hash lookup on a pair of ints.
#include "tokenizer/clip_tokenizer.h"

#include "common/error.h"
#include "tokenizer/byte_symbols.h"
#include "tokenizer/unicode_text.h"
#include "tokenizer/vocab_json.h"

#include <nlohmann/json.hpp>

#include <array>
#include <deque>
#include <fstream>
#include <mutex>
#include <optional>
#include <string_view>
#include <unordered_map>

namespace psa {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

constexpr std::string_view kEndOfWord = "</w>";
constexpr size_t kMaxCachedWords = 100000;

struct Merge {
    std::int32_t rank;
    std::int32_t merged; // interned symbol of left + right
};

std::uint64_t pair_key(std::int32_t left, std::int32_t right)
{
    return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(left)) << 32) |
           static_cast<std::uint32_t>(right);
}

bool is_blank(std::string_view s)
{
    return s.find_first_not_of(" \t\r") == std::string_view::npos;
}

// A missing file gets a clearer message than "cannot open".
std::string read_text(const fs::path& path)
{
    std::error_code ec;
    if (!fs::exists(path, ec))
        throw IoError(path_message(path.string(), "not found (a CLIP tokenizer folder holds "
                                                  "vocab.json and merges.txt)"));
    if (fs::is_directory(path, ec))
        throw IoError(path_message(path.string(), "is a folder, expected a file"));
    std::ifstream in(path, std::ios::binary);
    if (!in)
        throw IoError(path_message(path.string(), "cannot open for reading"));
    in.seekg(0, std::ios::end);
    std::string text(static_cast<size_t>(in.tellg()), '\0');
    in.seekg(0);
    if (!in.read(text.data(), static_cast<std::streamsize>(text.size())))
        throw IoError(path_message(path.string(), "read failed"));
    return text;
}

json parse_json_file(const fs::path& path)
{
    const std::string text = read_text(path);
    try {
        return json::parse(text);
    } catch (const json::parse_error& e) {
        throw IoError(path_message(path.string(), std::string("invalid JSON: ") + e.what()));
    }
}

constexpr const char* kSpecialKeys[] = {"bos_token", "eos_token", "unk_token", "pad_token"};

struct SpecialSpec {
    std::string content;
    fs::path source; // the file that named it, for error messages
};
using SpecialSpecs = std::array<SpecialSpec, 4>; // in kSpecialKeys order

// A special token is a string or an AddedToken object {"content": ...}; null keeps the default.
// Later files override earlier ones (from_pretrained lets special_tokens_map.json win).
void read_specials(const fs::path& path, SpecialSpecs& specs, std::optional<int>* max_length)
{
    const json config = parse_json_file(path);
    if (!config.is_object())
        throw ConfigError(path_message(path.string(), "expected a JSON object, got " +
                                                          std::string(config.type_name())));
    for (size_t k = 0; k < specs.size(); ++k) {
        const auto it = config.find(kSpecialKeys[k]);
        if (it == config.end() || it->is_null())
            continue;
        const json* content = &*it;
        if (it->is_object()) {
            const auto c = it->find("content");
            content = c == it->end() ? nullptr : &*c;
        }
        if (!content || !content->is_string())
            throw ConfigError(path_message(
                path.string(), std::string(kSpecialKeys[k]) +
                                   ": expected a string or {\"content\": string}, got " +
                                   it->dump()));
        specs[k] = {content->get<std::string>(), path};
    }
    if (max_length) {
        const auto it = config.find("model_max_length");
        // Tokenizers without a limit store a huge float (1e30): the default stays then.
        if (it != config.end() && it->is_number_integer() && it->get<std::int64_t>() >= 2 &&
            it->get<std::int64_t>() <= 1000000)
            *max_length = static_cast<int>(it->get<std::int64_t>());
    }
}

SpecialSpecs default_specials(const fs::path& vocab_json)
{
    return {SpecialSpec{"<|startoftext|>", vocab_json}, SpecialSpec{"<|endoftext|>", vocab_json},
            SpecialSpec{"<|endoftext|>", vocab_json}, SpecialSpec{"<|endoftext|>", vocab_json}};
}

} // namespace

struct CLIPTokenizer::Impl {
    struct Word {
        std::vector<std::string> tokens;
        std::vector<std::int64_t> ids;
    };
    struct Special {
        std::string content;
        std::int64_t id = 0;
    };

    std::unordered_map<std::string, std::int64_t> encoder;
    std::vector<std::string> decoder; // id -> token; empty where vocab.json has no such id
    std::deque<std::string> symbols;  // interned merge symbols; a deque keeps views valid
    std::unordered_map<std::string_view, std::int32_t> symbol_ids; // views into symbols
    std::unordered_map<std::uint64_t, Merge> merges;
    Special bos, eos, unk, pad;
    std::vector<Special> no_split; // added tokens the slow tokenizer splits out before BPE
    int model_max_length = 77;

    mutable std::mutex cache_mutex;
    mutable std::unordered_map<std::string, Word> cache;

    void load_vocab(const fs::path& path);
    void load_merges(const fs::path& path);
    void set_specials(const SpecialSpecs& specs, const fs::path& vocab_json);
    std::int32_t intern(std::string_view s);
    std::int64_t id_of(const std::string& token) const;
    Word bpe(const std::string& word) const;
    Word cached_bpe(const std::string& word) const;
    void tokenize(const std::string& text, std::vector<std::string>* tokens,
                  std::vector<std::int64_t>* ids) const;
};

void CLIPTokenizer::Impl::load_vocab(const fs::path& path)
{
    auto entries = read_vocab_json(path, read_text(path));
    encoder.reserve(entries.size());
    std::int64_t max_id = -1;
    for (auto& [token, id] : entries) {
        max_id = std::max(max_id, id);
        encoder[std::move(token)] = id; // a repeated key keeps its last id, as json.load does
    }
    // decoder is indexed by id; refuse ids that would make it absurdly sparse.
    constexpr std::int64_t kMaxId = 1 << 24;
    if (max_id >= kMaxId)
        throw IoError(path_message(path.string(), "id " + std::to_string(max_id) +
                                                      " is too large (expected ids below " +
                                                      std::to_string(kMaxId) + ")"));
    decoder.assign(static_cast<size_t>(max_id + 1), std::string());
    for (const auto& [token, id] : encoder)
        decoder[static_cast<size_t>(id)] = token;
}

std::int32_t CLIPTokenizer::Impl::intern(std::string_view s)
{
    const auto it = symbol_ids.find(s);
    if (it != symbol_ids.end())
        return it->second;
    const auto id = static_cast<std::int32_t>(symbols.size());
    symbol_ids.emplace(symbols.emplace_back(s), id);
    return id;
}

void CLIPTokenizer::Impl::load_merges(const fs::path& path)
{
    const std::string text = read_text(path);
    std::vector<std::string_view> lines;
    for (size_t pos = 0; pos <= text.size();) {
        size_t end = text.find('\n', pos);
        if (end == std::string::npos)
            end = text.size();
        std::string_view line(text.data() + pos, end - pos);
        if (!line.empty() && line.back() == '\r')
            line.remove_suffix(1);
        lines.push_back(line);
        pos = end + 1;
    }
    while (!lines.empty() && is_blank(lines.back()))
        lines.pop_back(); // trailing newlines, as the reference's read().strip()
    const size_t first = (!lines.empty() && lines[0].rfind("#version", 0) == 0) ? 1 : 0;
    symbol_ids.reserve(3 * lines.size());
    merges.reserve(lines.size());
    for (size_t i = first; i < lines.size(); ++i) {
        const std::string_view line = lines[i];
        std::string_view parts[3];
        size_t count = 0;
        for (size_t pos = 0; pos < line.size();) {
            pos = line.find_first_not_of(" \t", pos);
            if (pos == std::string_view::npos)
                break;
            const size_t end = std::min(line.find_first_of(" \t", pos), line.size());
            if (count < 3)
                parts[count] = line.substr(pos, end - pos);
            ++count;
            pos = end;
        }
        if (count != 2)
            throw IoError(path_message(path.string() + ":" + std::to_string(i + 1),
                                       "expected two symbols separated by a space, got " +
                                           std::to_string(count) + ": \"" +
                                           std::string(line.substr(0, 80)) + "\""));
        const auto left = intern(parts[0]);
        const auto right = intern(parts[1]);
        std::string joined;
        joined.reserve(parts[0].size() + parts[1].size());
        joined.append(parts[0]).append(parts[1]);
        const auto merged = intern(joined);
        // dict(zip(merges, range(...))): a repeated pair keeps its last rank.
        merges[pair_key(left, right)] = Merge{static_cast<std::int32_t>(i - first), merged};
    }
}

std::int64_t CLIPTokenizer::Impl::id_of(const std::string& token) const
{
    const auto it = encoder.find(token);
    return it == encoder.end() ? unk.id : it->second;
}

CLIPTokenizer::Impl::Word CLIPTokenizer::Impl::bpe(const std::string& word) const
{
    Word out;
    // The reference seeds its cache with the two specials, so they never get "</w>".
    if (word == "<|startoftext|>" || word == "<|endoftext|>") {
        out.tokens = {word};
        out.ids = {id_of(word)};
        return out;
    }
    // One symbol per character of the byte-encoded word; the last one carries "</w>".
    std::vector<std::string> parts;
    for (size_t i = 0; i < word.size();) {
        const auto lead = static_cast<unsigned char>(word[i]);
        const size_t len = lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
        parts.emplace_back(word.substr(i, len));
        i += len;
    }
    if (parts.empty())
        return out;
    parts.back() += kEndOfWord;
    // A symbol is its interned id (-1 when no merge mentions it) and its text, which views
    // `parts` or the immutable `symbols`.
    struct Symbol {
        std::int32_t id;
        std::string_view text;
    };
    std::vector<Symbol> syms;
    syms.reserve(parts.size());
    for (const auto& p : parts) {
        const auto it = symbol_ids.find(p);
        syms.push_back({it == symbol_ids.end() ? -1 : it->second, p});
    }
    // Merge the lowest-ranked adjacent pair everywhere (left to right, non-overlapping) until
    // no adjacent pair has a rank.
    std::vector<Symbol> next;
    while (syms.size() > 1) {
        const Merge* best = nullptr;
        std::int32_t left = -1, right = -1;
        for (size_t i = 0; i + 1 < syms.size(); ++i) {
            if (syms[i].id < 0 || syms[i + 1].id < 0)
                continue;
            const auto it = merges.find(pair_key(syms[i].id, syms[i + 1].id));
            if (it != merges.end() && (!best || it->second.rank < best->rank)) {
                best = &it->second;
                left = syms[i].id;
                right = syms[i + 1].id;
            }
        }
        if (!best)
            break;
        next.clear();
        for (size_t i = 0; i < syms.size();) {
            if (i + 1 < syms.size() && syms[i].id == left && syms[i + 1].id == right) {
                next.push_back({best->merged, symbols[static_cast<size_t>(best->merged)]});
                i += 2;
            } else {
                next.push_back(syms[i++]);
            }
        }
        syms.swap(next);
    }
    for (const auto& sym : syms) {
        out.tokens.emplace_back(sym.text);
        out.ids.push_back(id_of(out.tokens.back()));
    }
    return out;
}

CLIPTokenizer::Impl::Word CLIPTokenizer::Impl::cached_bpe(const std::string& word) const
{
    {
        std::lock_guard lock(cache_mutex);
        const auto it = cache.find(word);
        if (it != cache.end())
            return it->second;
    }
    Word w = bpe(word);
    std::lock_guard lock(cache_mutex);
    if (cache.size() >= kMaxCachedWords)
        cache.clear();
    cache.emplace(word, w);
    return w;
}

void CLIPTokenizer::Impl::tokenize(const std::string& text, std::vector<std::string>* tokens,
                                   std::vector<std::int64_t>* ids) const
{
    const ByteSymbols& bytes = byte_symbols();
    auto tokenize_chunk = [&](std::string_view chunk) {
        const auto clean =
            unicode::to_lower(unicode::whitespace_clean(unicode::decode_utf8(chunk)));
        for (const auto& piece : unicode::split_words(clean)) {
            std::string encoded;
            encoded.reserve(2 * piece.size());
            for (const char c : piece)
                encoded += bytes.symbol[static_cast<unsigned char>(c)];
            const Word w = cached_bpe(encoded);
            if (tokens)
                tokens->insert(tokens->end(), w.tokens.begin(), w.tokens.end());
            if (ids)
                ids->insert(ids->end(), w.ids.begin(), w.ids.end());
        }
    };
    // PreTrainedTokenizer.tokenize(): added (special) tokens are cut out first, leftmost-longest,
    // and the pieces between them are tokenized on their own.
    size_t start = 0;
    for (size_t i = 0; i < text.size();) {
        const Special* hit = nullptr;
        for (const auto& s : no_split)
            if (!s.content.empty() && text.compare(i, s.content.size(), s.content) == 0 &&
                (!hit || s.content.size() > hit->content.size()))
                hit = &s;
        if (!hit) {
            ++i;
            continue;
        }
        tokenize_chunk(std::string_view(text).substr(start, i - start));
        if (tokens)
            tokens->push_back(hit->content);
        if (ids)
            ids->push_back(hit->id);
        i += hit->content.size();
        start = i;
    }
    tokenize_chunk(std::string_view(text).substr(start));
}

void CLIPTokenizer::Impl::set_specials(const SpecialSpecs& specs, const fs::path& vocab_json)
{
    Special* targets[] = {&bos, &eos, &unk, &pad};
    for (size_t k = 0; k < specs.size(); ++k) {
        const auto it = encoder.find(specs[k].content);
        if (it == encoder.end())
            throw ConfigError(path_message(specs[k].source.string(),
                                           std::string(kSpecialKeys[k]) + " \"" + specs[k].content +
                                               "\" is not in " + vocab_json.string()));
        *targets[k] = {specs[k].content, it->second};
        bool seen = false;
        for (const auto& s : no_split)
            seen = seen || s.content == specs[k].content;
        if (!seen)
            no_split.push_back(*targets[k]);
    }
}

// ---- public API ----

CLIPTokenizer::CLIPTokenizer(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

CLIPTokenizer CLIPTokenizer::from_files(const fs::path& vocab_json, const fs::path& merges_txt)
{
    auto impl = std::make_shared<Impl>();
    impl->load_vocab(vocab_json);
    impl->load_merges(merges_txt);
    impl->set_specials(default_specials(vocab_json), vocab_json);
    return CLIPTokenizer(std::move(impl));
}

CLIPTokenizer CLIPTokenizer::from_dir(const fs::path& tokenizer_dir)
{
    std::error_code ec;
    if (!fs::is_directory(tokenizer_dir, ec))
        throw IoError(path_message(tokenizer_dir.string(), "tokenizer folder not found"));
    const fs::path vocab_json = tokenizer_dir / "vocab.json";
    auto impl = std::make_shared<Impl>();
    impl->load_vocab(vocab_json);
    impl->load_merges(tokenizer_dir / "merges.txt");
    SpecialSpecs specs = default_specials(vocab_json);
    std::optional<int> max_length;
    if (fs::exists(tokenizer_dir / "tokenizer_config.json", ec))
        read_specials(tokenizer_dir / "tokenizer_config.json", specs, &max_length);
    if (fs::exists(tokenizer_dir / "special_tokens_map.json", ec))
        read_specials(tokenizer_dir / "special_tokens_map.json", specs, nullptr);
    impl->set_specials(specs, vocab_json);
    if (max_length)
        impl->model_max_length = *max_length;
    return CLIPTokenizer(std::move(impl));
}

std::vector<std::string> CLIPTokenizer::bpe_tokens(const std::string& text) const
{
    std::vector<std::string> tokens;
    impl_->tokenize(text, &tokens, nullptr);
    return tokens;
}

std::vector<std::int64_t> CLIPTokenizer::encode(const std::string& text) const
{
    std::vector<std::int64_t> ids;
    impl_->tokenize(text, nullptr, &ids);
    return ids;
}

Encoding CLIPTokenizer::encode_padded(const std::string& text, int max_length) const
{
    if (max_length < 2)
        throw InvalidRequest("encode_padded: max_length must be at least 2 (BOS and EOS), got " +
                             std::to_string(max_length));
    const auto ids = encode(text);
    const size_t length = static_cast<size_t>(max_length);
    const size_t kept = std::min(ids.size(), length - 2);
    Encoding e;
    e.num_tokens_untruncated = static_cast<int>(ids.size() + 2);
    e.truncated = ids.size() + 2 > length;
    e.input_ids.reserve(length);
    e.input_ids.push_back(impl_->bos.id);
    e.input_ids.insert(e.input_ids.end(), ids.begin(), ids.begin() + static_cast<long>(kept));
    e.input_ids.push_back(impl_->eos.id);
    e.attention_mask.assign(e.input_ids.size(), 1);
    e.input_ids.resize(length, impl_->pad.id);
    e.attention_mask.resize(length, 0);
    return e;
}

std::string CLIPTokenizer::decode(const std::vector<std::int64_t>& ids,
                                  bool skip_special_tokens) const
{
    const Impl& d = *impl_;
    const ByteSymbols& bytes = byte_symbols();
    std::string raw;
    for (const auto id : ids) {
        if (id < 0 || id >= static_cast<std::int64_t>(d.decoder.size()) ||
            d.decoder[static_cast<size_t>(id)].empty())
            throw InvalidRequest("decode: id " + std::to_string(id) +
                                 " is not in the vocabulary (" + std::to_string(d.encoder.size()) +
                                 " entries)");
        if (skip_special_tokens &&
            (id == d.bos.id || id == d.eos.id || id == d.unk.id || id == d.pad.id))
            continue;
        // Each character stands for one byte; characters outside the map pass through as UTF-8.
        for (const char32_t c : unicode::decode_utf8(d.decoder[static_cast<size_t>(id)])) {
            if (c < bytes.byte_of.size() && bytes.byte_of[c] >= 0)
                raw.push_back(static_cast<char>(bytes.byte_of[c]));
            else
                unicode::append_utf8(raw, c);
        }
    }
    std::u32string text = unicode::decode_utf8(raw);
    std::u32string out;
    out.reserve(text.size());
    for (size_t i = 0; i < text.size(); ++i) {
        if (text.compare(i, 4, U"</w>") == 0) {
            out.push_back(U' ');
            i += 3;
        } else {
            out.push_back(text[i]);
        }
    }
    size_t b = 0, e = out.size();
    while (b < e && (unicode::flags(out[b]) & unicode::kPySpace))
        ++b;
    while (e > b && (unicode::flags(out[e - 1]) & unicode::kPySpace))
        --e;
    return unicode::encode_utf8(std::u32string_view(out).substr(b, e - b));
}

std::int64_t CLIPTokenizer::bos_id() const
{
    return impl_->bos.id;
}
std::int64_t CLIPTokenizer::eos_id() const
{
    return impl_->eos.id;
}
std::int64_t CLIPTokenizer::pad_id() const
{
    return impl_->pad.id;
}
std::int64_t CLIPTokenizer::unk_id() const
{
    return impl_->unk.id;
}
std::int64_t CLIPTokenizer::vocab_size() const
{
    return static_cast<std::int64_t>(impl_->encoder.size());
}
int CLIPTokenizer::model_max_length() const
{
    return impl_->model_max_length;
}

} // namespace psa
