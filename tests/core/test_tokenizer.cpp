// SPDX-License-Identifier: GPL-3.0-or-later
// tokenizer/: every case of expected/tokenizer.json (ids, mask, BPE strings, truncation) against
// the tiny-sd tokenizer folder, load errors that name the file, special tokens from the configs.
#include "common/error.h"
#include "support/test_support.h"
#include "tokenizer/clip_tokenizer.h"

#include <QtTest>

#include <nlohmann/json.hpp>

#include <chrono>
#include <fstream>
#include <optional>

using namespace psa;
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

json read_json(const fs::path& path)
{
    std::ifstream in(path);
    return json::parse(in);
}

std::vector<std::int64_t> ids_of(const json& array)
{
    return array.get<std::vector<std::int64_t>>();
}

QString text_of(const std::vector<std::int64_t>& ids)
{
    QStringList parts;
    for (const auto id : ids)
        parts << QString::number(id);
    return "[" + parts.join(", ") + "]";
}

QString text_of(const std::vector<std::string>& tokens)
{
    QStringList parts;
    for (const auto& t : tokens)
        parts << "'" + QString::fromStdString(t) + "'";
    return "[" + parts.join(", ") + "]";
}

// A hand-made folder: byte symbols for "a", "b", "!", one merge, the two specials.
void write_small_tokenizer(const fs::path& dir)
{
    fs::create_directories(dir);
    test::write_bytes(dir / "vocab.json", R"({"!": 0, "a": 1, "b": 2, "a</w>": 3, "b</w>": 4,
        "!</w>": 5, "ab</w>": 6, "<|startoftext|>": 7, "<|endoftext|>": 8})");
    test::write_bytes(dir / "merges.txt", "#version: 0.2\na b</w>\n");
}

template <class E, class F> std::string message_of(F&& f)
{
    try {
        f();
    } catch (const E& e) {
        return e.what();
    }
    return "(no exception)";
}

} // namespace

class TestTokenizer : public QObject {
    Q_OBJECT

    std::optional<CLIPTokenizer> tokenizer_;
    json fixture_;
    int exact_ = 0, without_ftfy_ = 0, skipped_ = 0;

    // The tiny-sd tokenizer and expected/tokenizer.json; false when the fixtures are missing.
    bool load_fixture()
    {
        const fs::path dir = test::fixtures_dir();
        if (!fs::exists(dir / "expected" / "tokenizer.json"))
            return false;
        if (fixture_.is_null())
            fixture_ = read_json(dir / "expected" / "tokenizer.json");
        if (!tokenizer_)
            tokenizer_ =
                CLIPTokenizer::from_dir(dir / fixture_.at("tokenizer_dir").get<std::string>());
        return true;
    }

private Q_SLOTS:
    void fixture_special_tokens_match()
    {
        if (!load_fixture())
            QFAIL(qPrintable("fixtures folder missing: " +
                             QString::fromStdString(test::fixtures_dir().string())));
        QCOMPARE(tokenizer_->bos_id(), fixture_.at("bos_token_id").get<std::int64_t>());
        QCOMPARE(tokenizer_->eos_id(), fixture_.at("eos_token_id").get<std::int64_t>());
        QCOMPARE(tokenizer_->pad_id(), fixture_.at("pad_token_id").get<std::int64_t>());
        QCOMPARE(tokenizer_->model_max_length(), fixture_.at("model_max_length").get<int>());
        const fs::path vocab =
            test::fixtures_dir() / fixture_.at("tokenizer_dir").get<std::string>() / "vocab.json";
        QCOMPARE(tokenizer_->vocab_size(), std::int64_t(read_json(vocab).size()));
    }

    void fixture_case_matches_reference_data()
    {
        QTest::addColumn<int>("index");
        if (!load_fixture()) {
            QTest::newRow("fixtures missing") << -1;
            return;
        }
        const auto& cases = fixture_.at("cases");
        for (size_t i = 0; i < cases.size(); ++i)
            QTest::newRow(cases[i].at("name").get<std::string>().c_str()) << int(i);
    }
    void fixture_case_matches_reference()
    {
        QFETCH(int, index);
        if (index < 0)
            QFAIL(qPrintable("fixtures folder missing: " +
                             QString::fromStdString(test::fixtures_dir().string())));
        const json& c = fixture_.at("cases").at(size_t(index));
        const auto text = c.at("text").get<std::string>();
        const int max_length = int(c.at("input_ids").size());
        const Encoding e = tokenizer_->encode_padded(text, max_length);
        if (c.value("normalization_sensitive", false)) {
            // The reference ran ftfy.fix_text first; without ftfy only the no-ftfy ids apply.
            if (!c.contains("input_ids_without_ftfy")) {
                ++skipped_;
                QSKIP("normalization_sensitive and no input_ids_without_ftfy: needs ftfy");
            }
            const auto expected = ids_of(c.at("input_ids_without_ftfy"));
            QVERIFY2(e.input_ids == expected,
                     qPrintable("got " + text_of(e.input_ids) + "\nwant " + text_of(expected)));
            ++without_ftfy_;
            return;
        }
        const auto bpe = tokenizer_->bpe_tokens(text);
        const auto expected_bpe = c.at("bpe_tokens").get<std::vector<std::string>>();
        QVERIFY2(bpe == expected_bpe,
                 qPrintable("got " + text_of(bpe) + "\nwant " + text_of(expected_bpe)));
        const auto expected_ids = ids_of(c.at("input_ids"));
        QVERIFY2(e.input_ids == expected_ids,
                 qPrintable("got " + text_of(e.input_ids) + "\nwant " + text_of(expected_ids)));
        QVERIFY(e.attention_mask == ids_of(c.at("attention_mask")));
        QCOMPARE(e.num_tokens_untruncated, c.at("num_tokens_untruncated").get<int>());
        QCOMPARE(e.truncated, c.at("truncated").get<bool>());
        ++exact_;
    }

    void fixture_tokenizer_loads_fast()
    {
        if (!load_fixture())
            QFAIL("fixtures folder missing");
        const fs::path dir = test::fixtures_dir() / fixture_.at("tokenizer_dir").get<std::string>();
        const auto t0 = std::chrono::steady_clock::now();
        const auto tok = CLIPTokenizer::from_dir(dir);
        const double s =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        qInfo("tokenizer load: %.3f s (%lld ids)", s, static_cast<long long>(tok.vocab_size()));
        QVERIFY2(s < 2.0, "loading the 49,408-entry vocabulary should take well under a second");
    }

    void decode_round_trips_plain_sentence()
    {
        if (!load_fixture())
            QFAIL("fixtures folder missing");
        // Every word ends in "</w>" -> " ": words and punctuation come back space-separated.
        const std::string text = "a photo of an astronaut riding a horse on mars";
        QCOMPARE(tokenizer_->decode(tokenizer_->encode(text)), text);
        QCOMPARE(tokenizer_->decode(tokenizer_->encode_padded(text).input_ids), text);
        const std::string accents = "café zürich 日本語";
        QCOMPARE(tokenizer_->decode(tokenizer_->encode(accents)), accents);
        QCOMPARE(tokenizer_->decode(tokenizer_->encode("mars, 8k!")), std::string("mars , 8 k !"));
        const auto kept = tokenizer_->decode({tokenizer_->bos_id(), tokenizer_->eos_id()}, false);
        QCOMPARE(kept, std::string("<|startoftext|><|endoftext|>"));
        QVERIFY_THROWS_EXCEPTION(InvalidRequest, tokenizer_->decode({49408}));
        QVERIFY_THROWS_EXCEPTION(InvalidRequest, tokenizer_->encode_padded(text, 1));
    }

    void python_lowercasing_rules_apply()
    {
        if (!load_fixture())
            QFAIL("fixtures folder missing");
        // str.lower(): final sigma, and U+0130 becoming "i" + U+0307.
        QCOMPARE(tokenizer_->bpe_tokens("ΟΔΥΣΣΕΥΣ ΣΑ"), tokenizer_->bpe_tokens("οδυσσευς σα"));
        QCOMPARE(tokenizer_->bpe_tokens("İ"), tokenizer_->bpe_tokens("i\u0307"));
        QCOMPARE(tokenizer_->bpe_tokens("ПРИВЕТ Ÿ"), tokenizer_->bpe_tokens("привет ÿ"));
        // Special tokens in the text map to their ids, in any case.
        const auto ids = tokenizer_->encode("a<|endoftext|>B<|ENDOFTEXT|>");
        QCOMPARE(ids.size(), size_t(4));
        QCOMPARE(ids[1], tokenizer_->eos_id());
        QCOMPARE(ids[3], tokenizer_->eos_id());
        // Invalid UTF-8 does not throw (U+FFFD stands in).
        QCOMPARE(tokenizer_->encode("a\xff").size(), tokenizer_->encode("a\xef\xbf\xbd").size());
    }

    void missing_vocab_is_named()
    {
        test::TempDir dir;
        test::write_bytes(dir / "merges.txt", "#version: 0.2\n");
        const auto msg = message_of<IoError>([&] { CLIPTokenizer::from_dir(dir.path()); });
        QVERIFY2(msg.find((dir / "vocab.json").string()) == 0, msg.c_str());
        QVERIFY2(msg.find("not found") != std::string::npos, msg.c_str());
        const auto no_dir = message_of<IoError>([&] { CLIPTokenizer::from_dir(dir / "nope"); });
        QVERIFY2(no_dir.find("nope") != std::string::npos, no_dir.c_str());
    }

    void malformed_files_are_named()
    {
        test::TempDir dir;
        write_small_tokenizer(dir.path());
        test::write_bytes(dir / "merges.txt", "#version: 0.2\na b</w>\na b c\n");
        const auto msg = message_of<IoError>([&] { CLIPTokenizer::from_dir(dir.path()); });
        QVERIFY2(msg.find((dir / "merges.txt").string() + ":3:") == 0, msg.c_str());
        QVERIFY2(msg.find("got 3") != std::string::npos, msg.c_str());

        test::write_bytes(dir / "merges.txt", "#version: 0.2\nab\n");
        const auto one = message_of<IoError>([&] { CLIPTokenizer::from_dir(dir.path()); });
        QVERIFY2(one.find("merges.txt:2:") != std::string::npos, one.c_str());

        write_small_tokenizer(dir.path());
        test::write_bytes(dir / "vocab.json", R"({"a": 1,)");
        const auto bad_json = message_of<IoError>([&] { CLIPTokenizer::from_dir(dir.path()); });
        QVERIFY2(bad_json.find((dir / "vocab.json").string()) == 0, bad_json.c_str());
        QVERIFY2(bad_json.find("invalid JSON") != std::string::npos, bad_json.c_str());

        test::write_bytes(dir / "vocab.json", R"({"a": "one"})");
        const auto bad_id = message_of<IoError>([&] { CLIPTokenizer::from_dir(dir.path()); });
        QVERIFY2(bad_id.find("\"a\"") != std::string::npos, bad_id.c_str());
    }

    void pad_token_is_read_from_config()
    {
        test::TempDir dir;
        write_small_tokenizer(dir.path());
        // No config: CLIP's defaults, pad = EOS.
        const auto plain = CLIPTokenizer::from_dir(dir.path());
        QCOMPARE(plain.pad_id(), std::int64_t(8));
        QCOMPARE(plain.model_max_length(), 77);
        QCOMPARE(plain.bpe_tokens("ab a b!"),
                 (std::vector<std::string>{"ab</w>", "a</w>", "b</w>", "!</w>"}));

        // SD2.x: pad_token "!" (id 0) and a shorter model_max_length.
        test::write_bytes(dir / "tokenizer_config.json",
                          R"({"pad_token": "!", "model_max_length": 8, "bos_token": {"content":
                              "<|startoftext|>", "__type": "AddedToken"}})");
        const auto sd2 = CLIPTokenizer::from_dir(dir.path());
        QCOMPARE(sd2.pad_id(), std::int64_t(0));
        QCOMPARE(sd2.model_max_length(), 8);
        const Encoding e = sd2.encode_padded("AB a", sd2.model_max_length());
        QCOMPARE(e.input_ids, (std::vector<std::int64_t>{7, 6, 3, 8, 0, 0, 0, 0}));
        QCOMPARE(e.attention_mask, (std::vector<std::int64_t>{1, 1, 1, 1, 0, 0, 0, 0}));
        QCOMPARE(e.num_tokens_untruncated, 4);
        QVERIFY(!e.truncated);
        const Encoding t = sd2.encode_padded("a a a a a a a", 8);
        QCOMPARE(t.input_ids, (std::vector<std::int64_t>{7, 3, 3, 3, 3, 3, 3, 8}));
        QCOMPARE(t.num_tokens_untruncated, 9);
        QVERIFY(t.truncated);
        // The slow tokenizer cuts added tokens (the pad "!" here) out of the text before BPE.
        QCOMPARE(sd2.encode("a!"), (std::vector<std::int64_t>{3, 0}));

        // special_tokens_map.json wins over tokenizer_config.json (as from_pretrained does).
        test::write_bytes(dir / "special_tokens_map.json",
                          R"({"pad_token": {"content": "<|endoftext|>", "lstrip": false}})");
        QCOMPARE(CLIPTokenizer::from_dir(dir.path()).pad_id(), std::int64_t(8));

        test::write_bytes(dir / "special_tokens_map.json", R"({"pad_token": "<pad>"})");
        const auto msg = message_of<ConfigError>([&] { CLIPTokenizer::from_dir(dir.path()); });
        QVERIFY2(msg.find((dir / "special_tokens_map.json").string()) == 0, msg.c_str());
        QVERIFY2(msg.find("\"<pad>\"") != std::string::npos, msg.c_str());
    }

    void cleanupTestCase()
    {
        if (exact_ + without_ftfy_ + skipped_ > 0)
            qInfo("tokenizer.json: %d cases exact, %d normalization-sensitive cases matched "
                  "input_ids_without_ftfy, %d skipped",
                  exact_, without_ftfy_, skipped_);
    }
};

QTEST_APPLESS_MAIN(TestTokenizer)
#include "test_tokenizer.moc"
