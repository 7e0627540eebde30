// SPDX-License-Identifier: GPL-3.0-or-later
// pretrain/ and the BPE learner: merges by frequency and applied by rank, captions round trip with
// no unknown tokens; metadata errors that name file and line; the VAE and the text encoder + UNet
// learn on a tiny synthetic set of coloured shapes; a stopped and resumed stage ends bit-identical
// to an uninterrupted one; the time budget; the export loads through our loader and generates,
// for a tiny architecture and for the bundled demo architecture (whose size is checked).
#include "common/atomic_file.h"
#include "common/error.h"
#include "pipeline/components.h"
#include "pipeline/model_loading.h"
#include "pipeline/text2image.h"
#include "pretrain/caption_image_set.h"
#include "pretrain/focus_weights.h"
#include "pretrain/pretrain_run.h"
#include "pretrain/pretrain_trainer.h"
#include "pretrain/stage_model.h"
#include "support/test_support.h"
#include "tensor_io/layers.h"
#include "tensor_io/safetensors.h"
#include "tensor_io/state_dict.h"
#include "tokenizer/bpe_trainer.h"
#include "tokenizer/clip_tokenizer.h"

#include <ATen/Parallel.h>
#include <cmath>
#include <QtTest>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <torch/torch.h>

#include <algorithm>
#include <ctime>
#include <fstream>

using namespace psa;
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

using test::error_of;

void write_json(const fs::path& path, const json& j)
{
    fs::create_directories(path.parent_path());
    test::write_bytes(path, j.dump(2));
}

// A tiny architecture in the diffusers layout: 16 px images, VAE factor 2, 8x8 latents.
fs::path write_tiny_arch(const fs::path& dir)
{
    write_json(dir / "model_index.json", {{"_class_name", "StableDiffusionPipeline"},
                                          {"unet", {"diffusers", "UNet2DConditionModel"}},
                                          {"vae", {"diffusers", "AutoencoderKL"}},
                                          {"text_encoder", {"transformers", "CLIPTextModel"}},
                                          {"tokenizer", {"transformers", "CLIPTokenizer"}},
                                          {"scheduler", {"diffusers", "PNDMScheduler"}}});
    write_json(dir / "scheduler" / "scheduler_config.json",
               {{"_class_name", "PNDMScheduler"}, {"beta_start", 0.00085}, {"beta_end", 0.012},
                {"beta_schedule", "scaled_linear"}, {"num_train_timesteps", 1000}, {"set_alpha_to_one", false},
                {"skip_prk_steps", true}, {"steps_offset", 1}, {"clip_sample", false}});
    write_json(dir / "text_encoder" / "config.json",
               {{"hidden_size", 16}, {"intermediate_size", 32}, {"num_hidden_layers", 1},
                {"num_attention_heads", 2}, {"max_position_embeddings", 16}, {"vocab_size", 1000},
                {"hidden_act", "quick_gelu"}});
    write_json(dir / "unet" / "config.json",
               {{"_class_name", "UNet2DConditionModel"}, {"sample_size", 8}, {"in_channels", 4}, {"out_channels", 4},
                {"block_out_channels", {16, 32}}, {"down_block_types", {"CrossAttnDownBlock2D", "DownBlock2D"}},
                {"up_block_types", {"UpBlock2D", "CrossAttnUpBlock2D"}}, {"layers_per_block", 1},
                {"cross_attention_dim", 16}, {"attention_head_dim", 2}, {"norm_num_groups", 4}});
    write_json(dir / "vae" / "config.json",
               {{"_class_name", "AutoencoderKL"}, {"block_out_channels", {8, 16}},
                {"down_block_types", {"DownEncoderBlock2D", "DownEncoderBlock2D"}},
                {"up_block_types", {"UpDecoderBlock2D", "UpDecoderBlock2D"}}, {"layers_per_block", 1},
                {"norm_num_groups", 4}, {"latent_channels", 4}, {"sample_size", 16}, {"scaling_factor", 1.0}});
    return dir;
}

// A world-shaped folder: DIR/images/*.png and DIR/base/metadata.jsonl ("../images/..."), each
// image a coloured shape on a background, its caption saying which, the shape's box its focus.
fs::path write_shape_world(const fs::path& dir, int size = 16)
{
    fs::create_directories(dir / "images");
    fs::create_directories(dir / "base");
    const std::pair<const char*, cv::Scalar> colours[] = {{"red", {40, 40, 220}}, {"blue", {220, 60, 40}}};
    const std::pair<const char*, cv::Scalar> backgrounds[] = {{"white", {245, 245, 245}}, {"black", {15, 15, 15}}};
    std::string lines;
    int index = 0;
    for (const auto& [colour, bgr] : colours)
        for (const char* shape : {"square", "circle"})
            for (const auto& [background, bg] : backgrounds) {
                cv::Mat m(size, size, CV_8UC3, bg);
                const int r = size / 4;
                if (std::string(shape) == "square")
                    cv::rectangle(m, {size / 2 - r, size / 2 - r}, {size / 2 + r, size / 2 + r}, bgr, cv::FILLED);
                else
                    cv::circle(m, {size / 2, size / 2}, r + 1, bgr, cv::FILLED);
                const std::string name = "shape-" + std::to_string(index++) + ".png";
                cv::imwrite((dir / "images" / name).string(), m);
                const double lo = double(size / 2 - r - 1) / size, hi = double(size / 2 + r + 1) / size;
                lines += json{{"file_name", "../images/" + name},
                              {"caption", std::string("a ") + colour + " " + shape + " on " + background},
                              {"subject", shape}, {"scene", background}, {"concepts", json::array()},
                              {"focus_boxes", {{lo, lo, hi, hi}}}}
                             .dump() +
                         "\n";
            }
    test::write_bytes(dir / "base" / "metadata.jsonl", lines);
    return dir;
}

std::map<std::string, at::Tensor> read_tensors(const fs::path& path)
{
    std::map<std::string, at::Tensor> out;
    const auto file = SafetensorsFile::open(path);
    for (const auto& info : file.tensors())
        out[info.name] = file.tensor(info.name).clone();
    return out;
}

PretrainConfig quick(PretrainConfig c, int steps)
{
    c.steps = steps;
    c.batch = 4;
    c.lr = 3e-3;
    c.warmup_steps = 2;
    c.checkpoint_every = 0;
    return c;
}

// A run folder with the tiny architecture, its vocabulary, and a VAE trained for `vae_steps`.
struct TinyRun {
    test::TempDir tmp;
    fs::path run;
    std::optional<CaptionImageSet> data;

    explicit TinyRun(int vae_steps)
    {
        run = tmp / "run";
        write_shape_world(tmp / "world");
        data = CaptionImageSet::load(tmp / "world");
        prepare_run(run, write_tiny_arch(tmp / "arch"));
        learn_run_vocabulary(run, *data);
        if (vae_steps > 0) {
            JobControl job;
            PretrainTrainer vae(PretrainStage::Vae, run, *data, quick(PretrainConfig::vae_defaults(), vae_steps), job);
            vae.train(job);
        }
    }
};

std::string values_text(const at::Tensor& t)
{
    std::string out;
    for (int64_t i = 0; i < t.numel(); ++i)
        out += (i ? " " : "") + QString::number(t[i].item<double>(), 'f', 4).toStdString();
    return out;
}

AutoencoderKL load_vae(const fs::path& config_file, const StateDict& weights)
{
    AutoencoderKL vae{nullptr};
    {
        ParamInitScope uninitialised(ParamInit::Empty);
        vae = AutoencoderKL(AutoencoderKLConfig::from_json(config_file));
    }
    load_into(*vae, weights, config_file.string());
    vae->eval();
    return vae;
}

// The final VAE's latents of the training images have zero mean and unit variance per channel,
// and it reconstructs exactly as the last checkpoint's unstandardized weights do.
void check_standardized_vae(const TinyRun& r)
{
    torch::NoGradGuard no_grad;
    JobControl job;
    const auto final_dir = r.run / "vae" / "final";
    auto standardized = load_vae(final_dir / "config.json",
                                 load_state_dict(final_dir / "diffusion_pytorch_model.safetensors"));
    const auto checkpoint = PretrainTrainer::latest_checkpoint(r.run, PretrainStage::Vae);
    QVERIFY(checkpoint);
    StateDict raw;
    for (const auto& [name, tensor] : load_state_dict(*checkpoint / "weights.safetensors"))
        if (name.rfind("vae.", 0) == 0)
            raw.emplace(name.substr(4), tensor);
    auto original = load_vae(final_dir / "config.json", raw);

    const auto x = rows_to_unit_range(load_image_rows(*r.data, static_cast<int>(standardized->config().sample_size), job));
    const auto posterior = standardized->encode(x);
    const auto z = posterior.sample(torch::randn(posterior.mean.sizes(), torch::kFloat)); // [N, C, h, w]
    const auto mean = z.mean(at::IntArrayRef{0, 2, 3}), std = z.std(at::IntArrayRef{0, 2, 3});
    qInfo("standardized latent channels: mean %s std %s", qPrintable(QString::fromStdString(values_text(mean))),
          qPrintable(QString::fromStdString(values_text(std))));
    QVERIFY2(mean.abs().max().item<double>() < 0.1, qPrintable(QString::fromStdString(values_text(mean))));
    QVERIFY2((std - 1).abs().max().item<double>() < 0.1, qPrintable(QString::fromStdString(values_text(std))));
    const auto a = standardized->decode(posterior.mean);
    const auto b = original->decode(original->encode(x).mean);
    const double diff = (a - b).abs().max().item<double>();
    QVERIFY2(diff < 1e-4, qPrintable(QString("standardized VAE reconstructs differently: max diff %1").arg(diff)));
}

} // namespace

class TestPretrain : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void initTestCase()
    {
        // Tiny tensors: one thread is faster than two on the shared 2-core machine, and resume
        // equivalence is checked at a fixed thread count.
        at::set_num_threads(1);
    }

    // ---- BPE learner ----

    void bpe_merges_by_frequency_and_applies_them_by_rank()
    {
        // Pairs: (b,c) 4, (c,d</w>) 4, (a,b) 2, (b,d</w>) 2; ties go to the smaller pair.
        const auto vocab = learn_bpe({"bcd bcd", "bcd bcd", "abd abd"});
        const std::vector<std::pair<std::string, std::string>> expected = {
            {"b", "c"}, {"bc", "d</w>"}, {"a", "b"}, {"ab", "d</w>"}};
        QCOMPARE(vocab.merges.size(), expected.size());
        QVERIFY(vocab.merges == expected);
        QCOMPARE(vocab.tokens.size(), size_t{512 + 4 + 2});
        test::TempDir tmp;
        write_clip_tokenizer_files(vocab, tmp / "tok", 77);
        const auto tok = CLIPTokenizer::from_dir(tmp / "tok");
        // "abcd": (b,c) has rank 0, (a,b) rank 2: b+c first, then bc+d</w>; left to right would
        // have given ab, c, d</w>.
        QVERIFY(tok.bpe_tokens("abcd") == (std::vector<std::string>{"a", "bcd</w>"}));
        QVERIFY(tok.bpe_tokens("abc") == (std::vector<std::string>{"ab", "c</w>"}));
        QVERIFY(tok.bpe_tokens("bcd abd") == (std::vector<std::string>{"bcd</w>", "abd</w>"}));
    }

    void bpe_captions_round_trip_without_unknown_tokens()
    {
        const std::vector<std::string> corpus = {
            "a red square on white",          "a blue circle in a quiet meadow, with spiky shards",
            "A  Blue   SQUARE on black",      "a lantern in the harbour, with zigzag stripes and rings",
            "a robot's shadow near 3 towers", "with"};
        const auto vocab = learn_bpe(corpus);
        test::TempDir tmp;
        write_clip_tokenizer_files(vocab, tmp / "tok", 32);
        const auto tok = CLIPTokenizer::from_dir(tmp / "tok");
        QCOMPARE(tok.model_max_length(), 32);
        QCOMPARE(tok.vocab_size(), static_cast<std::int64_t>(vocab.tokens.size()));
        QCOMPARE(tok.eos_id(), vocab.eos_id());
        QCOMPARE(tok.bos_id(), vocab.bos_id());
        QCOMPARE(tok.eos_id(), tok.vocab_size() - 1); // the largest id, as CLIP's pooling assumes
        for (const auto& caption : corpus) {
            const auto ids = tok.encode(caption);
            for (const auto id : ids)
                QVERIFY2(id != tok.unk_id(), caption.c_str());
            // Every word of the corpus became one token.
            const auto tokens = tok.bpe_tokens(caption);
            for (const auto& t : tokens)
                QVERIFY2(t.size() > 4 && t.substr(t.size() - 4) == "</w>", (caption + ": " + t).c_str());
            const auto text = tok.decode(ids);
            QVERIFY2(tok.encode(text) == ids, text.c_str());
        }
        QCOMPARE(tok.decode(tok.encode("A  Blue   SQUARE on black")), std::string("a blue square on black"));
        // Words outside the corpus still map to known tokens (the byte alphabet covers them).
        for (const auto id : tok.encode("zebra café 42"))
            QVERIFY(id != tok.unk_id());
        QVERIFY(tok.encode("zebra").size() > 1);
    }

    void bpe_files_have_the_clip_layout()
    {
        test::TempDir tmp;
        const auto vocab = learn_bpe({"red square", "red circle"});
        write_clip_tokenizer_files(vocab, tmp / "tok", 77);
        const std::string merges = read_file_text(tmp / "tok" / "merges.txt");
        QVERIFY(merges.rfind("#version: 0.2\n", 0) == 0);
        const auto v = json::parse(read_file_text(tmp / "tok" / "vocab.json"));
        QCOMPARE(v.size(), vocab.tokens.size());
        QCOMPARE(v["<|endoftext|>"].get<std::int64_t>(), vocab.eos_id());
        QCOMPARE(v["!"].get<int>(), static_cast<int>('!'));
        QCOMPARE(v["!</w>"].get<int>(), 256 + '!');
        QVERIFY(v.contains("red</w>"));
        const auto config = json::parse(read_file_text(tmp / "tok" / "tokenizer_config.json"));
        QCOMPARE(config["model_max_length"].get<int>(), 77);
        QCOMPARE(config["tokenizer_class"].get<std::string>(), std::string("CLIPTokenizer"));
        QVERIFY(fs::exists(tmp / "tok" / "special_tokens_map.json"));
        QVERIFY(!error_of<InvalidRequest>([] { learn_bpe({"  ", ""}); }).isEmpty());
        BpeTrainerOptions small;
        small.vocab_size = 515; // room for one merge
        QCOMPARE(learn_bpe({"red square", "red circle"}, small).merges.size(), size_t{1});
    }

    // ---- data ----

    void bad_data_names_file_and_line_data()
    {
        QTest::addColumn<QString>("lines");
        QTest::addColumn<QString>("expected");
        QTest::newRow("missing image") << "{\"file_name\": \"../images/shape-0.png\", \"caption\": \"a\"}\n"
                                          "{\"file_name\": \"../images/nope.png\", \"caption\": \"b\"}\n"
                                       << "metadata.jsonl:2: image ../images/nope.png not found";
        QTest::newRow("bad json") << "\n{\"file_name\": \"../images/shape-0.png\", \"caption\": \"a\"}\n{oops\n"
                                  << "metadata.jsonl:3: invalid JSON";
        QTest::newRow("no caption") << "{\"file_name\": \"../images/shape-0.png\"}\n"
                                    << "metadata.jsonl:1: missing \"caption\"";
        QTest::newRow("caption not text") << "{\"file_name\": \"../images/shape-0.png\", \"caption\": 3}\n"
                                          << "metadata.jsonl:1: \"caption\" must be a string";
        QTest::newRow("empty set") << "\n  \n" << "metadata.jsonl: no images";
        QTest::newRow("focus box of three numbers")
            << "{\"file_name\": \"../images/shape-0.png\", \"caption\": \"a\", \"focus_boxes\": [[0, 0, 1]]}\n"
            << "metadata.jsonl:1: focus_boxes[0] must be four numbers";
        QTest::newRow("focus box outside the image")
            << "{\"file_name\": \"../images/shape-0.png\", \"caption\": \"a\", "
               "\"focus_boxes\": [[0.1, 0.1, 0.5, 0.5], [0.5, 0.2, 1.5, 0.6]]}\n"
            << "metadata.jsonl:1: focus_boxes[1] is not a box inside the unit square";
        QTest::newRow("focus boxes not a list")
            << "{\"file_name\": \"../images/shape-0.png\", \"caption\": \"a\", \"focus_boxes\": 2}\n"
            << "metadata.jsonl:1: \"focus_boxes\" must be an array";
    }
    void bad_data_names_file_and_line()
    {
        QFETCH(QString, lines);
        QFETCH(QString, expected);
        test::TempDir tmp;
        write_shape_world(tmp / "world");
        test::write_bytes(tmp / "world" / "base" / "metadata.jsonl", lines.toStdString());
        const auto message = error_of<IoError>([&] { CaptionImageSet::load(tmp / "world"); });
        QVERIFY2(message.contains(expected), qPrintable(message));
        QVERIFY2(message.contains(QString::fromStdString((tmp / "world" / "base").string())), qPrintable(message));
        QVERIFY(error_of<IoError>([&] { CaptionImageSet::load(tmp / "nowhere"); }).contains("no such file"));
    }

    void world_layout_and_plain_imagefolder_both_load()
    {
        test::TempDir tmp;
        write_shape_world(tmp / "world");
        const auto set = CaptionImageSet::load(tmp / "world");
        QCOMPARE(set.size(), size_t{8});
        QCOMPARE(set.items()[0].caption, std::string("a red square on white"));
        QVERIFY(fs::exists(set.items()[7].image));
        // file_name relative to the folder above (a world root) is accepted too.
        test::write_bytes(tmp / "world" / "base" / "metadata.jsonl",
                          "{\"file_name\": \"images/shape-1.png\", \"caption\": \"x\"}\n");
        QVERIFY(CaptionImageSet::load(tmp / "world" / "base" / "metadata.jsonl").items()[0].image ==
                (tmp / "world" / "images" / "shape-1.png").lexically_normal());
    }

    void focus_weights_mark_object_cells_and_keep_the_mse_scale()
    {
        test::TempDir tmp;
        write_shape_world(tmp / "world");
        const auto set = CaptionImageSet::load(tmp / "world");
        QVERIFY(set.has_focus_boxes());
        const auto& box = set.items()[0].focus_boxes.at(0);
        QCOMPARE(box.x0, 3.0 / 16);
        QCOMPARE(box.y1, 13.0 / 16);
        // On a 4x4 grid the cell centres 0.375 and 0.625 lie inside [0.1875, 0.8125]: the middle 2x2.
        const auto maps = focus_weight_maps(set, 4, 4, 5.0);
        QCOMPARE(maps.sizes().vec(), (std::vector<int64_t>{8, 1, 4, 4}));
        const auto expected = torch::tensor({1.f, 1.f, 1.f, 1.f, 1.f, 5.f, 5.f, 1.f, 1.f, 5.f, 5.f, 1.f, 1.f, 1.f, 1.f,
                                             1.f}).view({1, 1, 4, 4});
        for (int64_t i = 0; i < 8; ++i)
            QVERIFY2(torch::equal(maps[i].unsqueeze(0), expected), values_text(maps[i].flatten()).c_str());
        // Odd boxes on an odd grid: exactly the cells whose centres the boxes hold.
        test::write_bytes(tmp / "world" / "base" / "metadata.jsonl",
                          "{\"file_name\": \"../images/shape-0.png\", \"caption\": \"a\", \"focus_boxes\": "
                          "[[0.05, 0.3, 0.61, 0.92], [0.5, 0.0, 1.0, 0.2], [0.9, 0.9, 0.95, 0.95]]}\n");
        const auto odd = CaptionImageSet::load(tmp / "world");
        const auto odd_maps = focus_weight_maps(odd, 5, 7, 3.0);
        for (int y = 0; y < 5; ++y)
            for (int x = 0; x < 7; ++x) {
                const double u = (x + 0.5) / 7, v = (y + 0.5) / 5;
                bool inside = false;
                for (const auto& b : odd.items()[0].focus_boxes)
                    inside = inside || (u >= b.x0 && u <= b.x1 && v >= b.y0 && v <= b.y1);
                QCOMPARE(odd_maps[0][0][y][x].item<float>(), inside ? 3.f : 1.f);
            }
        // A line without boxes weighs everything 1; a set where no line has boxes cannot be weighted.
        test::write_bytes(tmp / "world" / "base" / "metadata.jsonl",
                          "{\"file_name\": \"../images/shape-0.png\", \"caption\": \"a\", "
                          "\"focus_boxes\": [[0, 0, 0.5, 0.5]]}\n"
                          "{\"file_name\": \"../images/shape-0.png\", \"caption\": \"a\"}\n");
        const auto mixed = CaptionImageSet::load(tmp / "world");
        QVERIFY(torch::equal(focus_weight_maps(mixed, 4, 4, 5.0)[1], torch::ones({1, 4, 4})));
        test::write_bytes(tmp / "world" / "base" / "metadata.jsonl",
                          "{\"file_name\": \"../images/shape-0.png\", \"caption\": \"a\"}\n");
        const auto plain = CaptionImageSet::load(tmp / "world");
        QVERIFY(!plain.has_focus_boxes());
        QVERIFY(torch::equal(focus_weight_maps(plain, 4, 4, 1.0), torch::ones({1, 1, 4, 4})));
        const auto message = error_of<ConfigError>([&] { focus_weight_maps(plain, 4, 4, 5.0); });
        QVERIFY2(message.contains("focus_boxes") && message.contains("metadata.jsonl"), qPrintable(message));

        // Weights of 1 give the plain MSE; an error inside the box counts five times.
        torch::manual_seed(3);
        const auto a = torch::randn({8, 2, 4, 4}), b = torch::randn({8, 2, 4, 4});
        QVERIFY(torch::allclose(weighted_mse(a, b, torch::ones({8, 1, 4, 4})), torch::mse_loss(a, b)));
        auto inside = torch::zeros({8, 2, 4, 4});
        inside.slice(2, 1, 3).slice(3, 1, 3).fill_(1.0); // 4 of 16 cells per channel
        const double weighted = weighted_mse(inside, torch::zeros_like(inside), maps).item<double>();
        QCOMPARE(weighted, 5.0 * 4 / (12 + 5 * 4));
        QCOMPARE(torch::mse_loss(inside, torch::zeros_like(inside)).item<double>(), 4.0 / 16);
    }

    void focus_weight_needs_focus_boxes()
    {
        TinyRun r(2);
        auto c = quick(PretrainConfig::unet_defaults(), 2);
        c.focus_weight = 3;
        test::write_bytes(r.tmp / "world" / "base" / "metadata.jsonl",
                          "{\"file_name\": \"../images/shape-0.png\", \"caption\": \"a red square on white\"}\n");
        const auto plain = CaptionImageSet::load(r.tmp / "world");
        JobControl job;
        const auto message =
            error_of<ConfigError>([&] { PretrainTrainer(PretrainStage::Unet, r.run, plain, c, job); });
        QVERIFY2(message.contains("focus_boxes") && message.contains("metadata.jsonl"), qPrintable(message));
        auto bad = c;
        bad.focus_weight = 0;
        QVERIFY(error_of<InvalidRequest>([&] { bad.validate(); }).contains("focus_weight"));
    }

    // ---- trainers ----

    void vae_loss_drops_and_latents_are_standardized()
    {
        TinyRun r(0);
        JobControl job;
        PretrainTrainer vae(PretrainStage::Vae, r.run, *r.data, quick(PretrainConfig::vae_defaults(), 40), job);
        const double before = vae.evaluate(0, 7);
        const auto result = vae.train(job);
        QCOMPARE(result.outcome, Outcome::Completed);
        QCOMPARE(result.steps_done, 40);
        const double after = vae.evaluate(0, 7);
        qInfo("VAE loss %.4f -> %.4f after 40 steps", before, after);
        QVERIFY2(after < 0.6 * before, qPrintable(QString("loss %1 -> %2").arg(before).arg(after)));
        QVERIFY(fs::exists(r.run / "vae" / "final" / "diffusion_pytorch_model.safetensors"));
        const auto config = json::parse(read_file_text(r.run / "arch" / "vae" / "config.json"));
        QCOMPARE(config["scaling_factor"].get<double>(), 1.0); // the latents are standardized instead
        check_standardized_vae(r);
        // train_log.jsonl has one line per step, tagged with the stage.
        std::ifstream log(r.run / "train_log.jsonl");
        int lines = 0;
        for (std::string line; std::getline(log, line); ++lines)
            QVERIFY(json::parse(line)["stage"] == "vae");
        QCOMPARE(lines, 40);
    }

    void text_to_image_loss_drops()
    {
        TinyRun r(20);
        JobControl job;
        auto c = quick(PretrainConfig::unet_defaults(), 40);
        PretrainTrainer unet(PretrainStage::Unet, r.run, *r.data, c, job);
        QVERIFY(unet.parameter_count() > 0);
        const double before = unet.evaluate(0, 11);
        QCOMPARE(unet.train(job).outcome, Outcome::Completed);
        const double after = unet.evaluate(0, 11);
        qInfo("text-to-image loss %.4f -> %.4f after 40 steps", before, after);
        QVERIFY2(after < 0.8 * before, qPrintable(QString("loss %1 -> %2").arg(before).arg(after)));
    }

    void unet_stage_needs_vocabulary_and_vae()
    {
        TinyRun r(0);
        JobControl job;
        const auto message = error_of<ConfigError>(
            [&] { PretrainTrainer(PretrainStage::Unet, r.run, *r.data, PretrainConfig::unet_defaults(), job); });
        QVERIFY2(message.contains("--stage vae"), qPrintable(message));
    }

    void resumed_stage_is_bit_identical_data()
    {
        QTest::addColumn<int>("stage_index");
        QTest::newRow("vae") << static_cast<int>(PretrainStage::Vae);
        QTest::newRow("text encoder + unet, EMA, caption dropout") << static_cast<int>(PretrainStage::Unet);
        QTest::newRow("decoder on the frozen encoder") << static_cast<int>(PretrainStage::Decoder);
    }
    void resumed_stage_is_bit_identical()
    {
        QFETCH(int, stage_index);
        const auto stage = static_cast<PretrainStage>(stage_index);
        TinyRun r(stage == PretrainStage::Vae ? 0 : 4);
        auto c = quick(PretrainConfig::defaults(stage), 6);
        c.caption_dropout = 0.3;
        c.ema_decay = 0.9;
        if (stage != PretrainStage::Vae)
            c.focus_weight = 3; // the weighted loss resumes bit-identically too
        // Two runs in separate run folders that share the architecture, vocabulary and VAE.
        const auto a = r.tmp / "a", b = r.tmp / "b";
        for (const auto& dir : {a, b})
            fs::copy(r.run, dir, fs::copy_options::recursive);
        JobControl job;
        {
            PretrainTrainer straight(stage, a, *r.data, c, job);
            QCOMPARE(straight.train(job).outcome, Outcome::Completed);
        }
        std::stop_source stop;
        JobControl stoppable(stop.get_token(), {});
        {
            PretrainTrainer first(stage, b, *r.data, c, job);
            const auto result = first.train(stoppable, [&](const PretrainStepStats& s) {
                if (s.step == 3)
                    stop.request_stop();
            });
            QCOMPARE(result.outcome, Outcome::Cancelled);
            QCOMPARE(result.steps_done, 3);
            QCOMPARE(result.last_checkpoint.filename().string(), std::string("step-00000003"));
        }
        {
            PretrainTrainer again(stage, b, *r.data, c, job);
            QVERIFY(again.resume());
            QCOMPARE(again.step(), 3);
            const auto result = again.train(job);
            QCOMPARE(result.first_step, 3);
            QCOMPARE(result.steps_done, 6);
        }
        const auto ck = "checkpoints/step-00000006/weights.safetensors";
        const auto wa = read_tensors(PretrainTrainer::stage_dir(a, stage) / ck);
        const auto wb = read_tensors(PretrainTrainer::stage_dir(b, stage) / ck);
        QCOMPARE(wa.size(), wb.size());
        for (const auto& [name, t] : wa) {
            QVERIFY2(wb.count(name), name.c_str());
            QVERIFY2(torch::equal(t, wb.at(name)), (name + " differs after resume").c_str());
        }
        QCOMPARE(wa.count("ema.unet.conv_in.weight"), size_t{stage == PretrainStage::Unet ? 1u : 0u});
        // A fresh run refuses a folder that holds a run; other settings on resume are refused.
        PretrainTrainer fresh(stage, b, *r.data, c, job);
        QVERIFY(error_of<InvalidRequest>([&] { fresh.train(job); }).contains("--resume"));
        auto other = c;
        other.lr = 1e-4;
        PretrainTrainer changed(stage, b, *r.data, other, job);
        QVERIFY(error_of<InvalidRequest>([&] { changed.resume(); }).contains("lr"));
        // The late decay only shapes steps still to come: a resume may add it.
        auto annealed = c;
        annealed.lr_decay_from = c.steps - 1;
        PretrainTrainer decaying(stage, b, *r.data, annealed, job);
        QVERIFY(decaying.resume());
        // So does the focus weight.
        if (stage != PretrainStage::Vae) {
            auto refocused = c;
            refocused.focus_weight = 1;
            PretrainTrainer plain_loss(stage, b, *r.data, refocused, job);
            QVERIFY(plain_loss.resume());
        }
    }

    // Runs where CUDA is (scripts/cuda-build has no Qt tests; a CUDA LibTorch with Qt runs it):
    // the stage on the GPU draws the same noise, rows and timesteps as on the CPU, so its losses
    // and weights follow the CPU run's to float tolerance, and a CPU checkpoint resumes there.
    void cuda_stage_follows_the_cpu_run_data() { resumed_stage_is_bit_identical_data(); }
    void cuda_stage_follows_the_cpu_run()
    {
        if (!torch::cuda::is_available())
            QSKIP("no CUDA device");
        QFETCH(int, stage_index);
        const auto stage = static_cast<PretrainStage>(stage_index);
        TinyRun r(stage == PretrainStage::Vae ? 0 : 4);
        auto c = quick(PretrainConfig::defaults(stage), 4);
        c.caption_dropout = 0.3;
        const auto on_cpu = r.tmp / "cpu", on_gpu = r.tmp / "gpu";
        for (const auto& dir : {on_cpu, on_gpu})
            fs::copy(r.run, dir, fs::copy_options::recursive);
        JobControl job;
        std::vector<double> cpu_losses, gpu_losses;
        PretrainTrainer cpu(stage, on_cpu, *r.data, c, job);
        cpu.train(job, [&](const PretrainStepStats& s) { cpu_losses.push_back(s.loss); });
        PretrainTrainer gpu(stage, on_gpu, *r.data, c, job, c10::Device(c10::kCUDA, 0));
        gpu.train(job, [&](const PretrainStepStats& s) { gpu_losses.push_back(s.loss); });
        QCOMPARE(gpu_losses.size(), cpu_losses.size());
        for (size_t i = 0; i < cpu_losses.size(); ++i)
            QVERIFY2(std::abs(gpu_losses[i] - cpu_losses[i]) <= 1e-3 * std::abs(cpu_losses[i]),
                     ("step " + std::to_string(i + 1) + ": cuda " + std::to_string(gpu_losses[i]) + ", cpu " +
                      std::to_string(cpu_losses[i])).c_str());
        const auto ck = "checkpoints/step-00000004/weights.safetensors";
        const auto wc = read_tensors(PretrainTrainer::stage_dir(on_cpu, stage) / ck);
        const auto wg = read_tensors(PretrainTrainer::stage_dir(on_gpu, stage) / ck);
        for (const auto& [name, t] : wc)
            QVERIFY2(torch::allclose(t, wg.at(name), 1e-3, 1e-4), (name + " differs on CUDA").c_str());
        // The CPU run's checkpoint continues on the GPU.
        auto longer = c;
        longer.steps = 5;
        PretrainTrainer moved(stage, on_cpu, *r.data, longer, job, c10::Device(c10::kCUDA, 0));
        QVERIFY(moved.resume());
        QCOMPARE(moved.train(job).outcome, Outcome::Completed);
        QCOMPARE(moved.step(), 5);
    }

    void learning_rate_warms_up_holds_then_decays_to_zero()
    {
        PretrainConfig c;
        c.lr = 1e-3;
        c.warmup_steps = 10;
        c.steps = 100;
        QCOMPARE(pretrain_learning_rate(c, 0), 1e-4);
        QCOMPARE(pretrain_learning_rate(c, 9), 1e-3);
        QCOMPARE(pretrain_learning_rate(c, 99), 1e-3); // no decay unless asked
        c.lr_decay_from = 60;
        c.validate();
        QCOMPARE(pretrain_learning_rate(c, 59), 1e-3);
        QCOMPARE(pretrain_learning_rate(c, 60), 1e-3);
        QVERIFY(std::abs(pretrain_learning_rate(c, 80) - 5e-4) < 1e-12); // half way down the cosine
        QVERIFY(pretrain_learning_rate(c, 99) < 1e-5);
        QVERIFY(pretrain_learning_rate(c, 99) > 0.0);
        // A decay that would start after the last step is refused, naming the field.
        c.lr_decay_from = 100;
        QVERIFY(error_of<InvalidRequest>([&] { c.validate(); }).contains("lr_decay_from"));
        // The field survives the checkpoint's JSON.
        c.lr_decay_from = 70;
        c.focus_weight = 4;
        QCOMPARE(PretrainConfig::from_json(c.to_json(), "test").lr_decay_from, 70);
        QCOMPARE(PretrainConfig::from_json(c.to_json(), "test").focus_weight, 4.0);
    }

    void time_budget_ends_the_sitting_with_a_checkpoint()
    {
        TinyRun r(0);
        JobControl job;
        auto c = quick(PretrainConfig::vae_defaults(), 50);
        PretrainTrainer vae(PretrainStage::Vae, r.run, *r.data, c, job);
        const auto result = vae.train(job, {}, 1e-6); // one step always runs, then the budget is spent
        QCOMPARE(result.outcome, Outcome::Cancelled);
        QVERIFY(result.budget_reached);
        QCOMPARE(result.steps_done, 1);
        QVERIFY(fs::exists(result.last_checkpoint / "state.json"));
        QVERIFY(!fs::exists(r.run / "vae" / "final")); // not complete: no final VAE yet
    }

    // ---- export ----

    void export_loads_and_generates_at_the_configured_size()
    {
        TinyRun r(10);
        JobControl job;
        PretrainTrainer unet(PretrainStage::Unet, r.run, *r.data, quick(PretrainConfig::unet_defaults(), 5), job);
        unet.train(job);
        const auto e = export_demo_model(r.run, {}, job);
        QVERIFY(e.folder == r.run / "model");
        QVERIFY(e.ema);
        QCOMPARE(e.unet_step, 5);
        QCOMPARE(SafetensorsFile::open(r.run / "model" / "unet" / "diffusion_pytorch_model.safetensors")
                     .info("conv_in.weight").dtype,
                 std::string("F16"));
        LoadModelOptions o;
        o.device = "cpu";
        o.dtype = "fp32";
        auto model = load_model(r.run / "model", o, job);
        QVERIFY(model);
        QCOMPARE(model->default_image_size(), 16);
        QCOMPARE(model->tokenizer->vocab_size(), model->text_config.vocab_size);
        Text2Image t2i(model);
        GenerationRequest request;
        request.prompt = "a red circle on black";
        request.steps = 3;
        const auto result = t2i.generate(request, job);
        QCOMPARE(result.images.size(), size_t{1});
        QCOMPARE(result.images[0].image.width, 16);
        QCOMPARE(result.images[0].image.height, 16);
        // Exporting again replaces the folder atomically.
        QCOMPARE(export_demo_model(r.run, {}, job).bytes, e.bytes);
        // A bare folder name is relative to the working folder (`--export-to model`).
        struct WorkingFolder {
            fs::path before = fs::current_path();
            explicit WorkingFolder(const fs::path& p) { fs::current_path(p); }
            ~WorkingFolder() { fs::current_path(before); }
        };
        {
            WorkingFolder in(r.tmp.path());
            QCOMPARE(export_demo_model(r.run, "bare", job).bytes, e.bytes);
        }
        QVERIFY(fs::is_regular_file(r.tmp / "bare" / "unet" / "diffusion_pytorch_model.safetensors"));
    }

    // The decoder stage trains the decoder side only: the encoder (and so the latent space the UNet
    // learned) stays bit for bit, the reconstruction loss drops, and the export ships the tuned VAE
    // until the VAE it was tuned on changes.
    void decoder_stage_tunes_only_the_decoder_and_the_export_ships_it()
    {
        TinyRun r(10);
        JobControl job;
        PretrainTrainer(PretrainStage::Unet, r.run, *r.data, quick(PretrainConfig::unet_defaults(), 2), job).train(job);
        const auto plain_export = export_demo_model(r.run, r.tmp / "plain", job);
        QVERIFY(!plain_export.tuned_decoder);

        auto c = quick(PretrainConfig::decoder_defaults(), 30);
        c.focus_weight = 3;
        PretrainTrainer decoder(PretrainStage::Decoder, r.run, *r.data, c, job);
        const double before = decoder.evaluate(0, 5);
        QCOMPARE(decoder.train(job).outcome, Outcome::Completed);
        const double after = decoder.evaluate(0, 5);
        qInfo("decoder-stage loss %.4f -> %.4f after 30 steps", before, after);
        QVERIFY2(after < 0.9 * before, qPrintable(QString("loss %1 -> %2").arg(before).arg(after)));
        // Only the decoder side is trainable and checkpointed.
        const auto ck = read_tensors(*PretrainTrainer::latest_checkpoint(r.run, PretrainStage::Decoder) /
                                     "weights.safetensors");
        for (const auto& [name, t] : ck)
            QVERIFY2(name.rfind("decoder.", 0) == 0 || name.rfind("post_quant_conv.", 0) == 0, name.c_str());

        const auto vae_file = r.run / "vae" / "final" / "diffusion_pytorch_model.safetensors";
        const auto tuned_file = r.run / "decoder" / "final" / "diffusion_pytorch_model.safetensors";
        const auto original = read_tensors(vae_file), tuned = read_tensors(tuned_file);
        QCOMPARE(tuned.size(), original.size());
        int changed = 0;
        for (const auto& [name, t] : original) {
            const bool same = torch::equal(t, tuned.at(name));
            if (name.rfind("encoder.", 0) == 0 || name.rfind("quant_conv.", 0) == 0)
                QVERIFY2(same, (name + " changed").c_str());
            changed += same ? 0 : 1;
        }
        QVERIFY(changed > 0);

        const auto e = export_demo_model(r.run, {}, job);
        QVERIFY(e.tuned_decoder);
        const auto shipped = read_tensors(r.run / "model" / "vae" / "diffusion_pytorch_model.safetensors");
        for (const char* name : {"decoder.conv_out.weight", "encoder.conv_in.weight"})
            QVERIFY2(torch::equal(shipped.at(name), tuned.at(name).to(torch::kHalf)), name);

        // A VAE trained again after the decoder stage: the tuned decoder no longer fits its latents.
        NamedTensors retrained;
        for (const auto& [name, t] : original)
            retrained.emplace_back(name, name == "encoder.conv_in.weight" ? t + 0.01 : t);
        save_safetensors(vae_file, retrained, {{"format", "pt"}});
        const auto message = error_of<ConfigError>([&] { export_demo_model(r.run, {}, job); });
        QVERIFY2(message.contains("decoder") && message.contains("--stage decoder"), qPrintable(message));

        // Without a trained VAE the stage names what to run first.
        TinyRun bare(0);
        const auto missing = error_of<ConfigError>(
            [&] { PretrainTrainer(PretrainStage::Decoder, bare.run, *bare.data, c, job); });
        QVERIFY2(missing.contains("--stage vae"), qPrintable(missing));
    }

    // --init-from: a new run's text encoder and UNet start at an exported model's weights (the
    // UNet's EMA, rounded to fp16), and a model of another vocabulary or layout is refused.
    void warm_restart_starts_from_an_exported_model()
    {
        TinyRun r(10);
        JobControl job;
        {
            PretrainTrainer first(PretrainStage::Unet, r.run, *r.data, quick(PretrainConfig::unet_defaults(), 4), job);
            first.train(job);
        }
        const auto model = export_demo_model(r.run, {}, job).folder;
        // The second run shares the first one's architecture, tokenizer and VAE.
        const auto again = r.tmp / "again";
        fs::create_directories(again / "vae");
        for (const char* sub : {"arch", "tokenizer", "vae/final"})
            fs::copy(r.run / sub, again / sub, fs::copy_options::recursive);
        auto c = quick(PretrainConfig::unet_defaults(), 4);
        c.init_from = model.string();
        PretrainTrainer warm(PretrainStage::Unet, again, *r.data, c, job);
        const auto start = read_tensors(warm.save_checkpoint() / "weights.safetensors");
        const auto exported_unet = read_tensors(model / "unet" / "diffusion_pytorch_model.safetensors");
        const auto exported_text = read_tensors(model / "text_encoder" / "model.safetensors");
        for (const auto& [name, t] : exported_unet) {
            QVERIFY2(torch::equal(start.at("unet." + name), t.to(torch::kFloat)), name.c_str());
            QVERIFY2(torch::equal(start.at("ema.unet." + name), t.to(torch::kFloat)), name.c_str()); // EMA starts there
        }
        for (const auto& [name, t] : exported_text)
            QVERIFY2(torch::equal(start.at("text_encoder." + name), t.to(torch::kFloat)), name.c_str());
        fs::remove_all(again / "unet"); // a fresh run refuses a folder that holds checkpoints
        QCOMPARE(warm.train(job).outcome, Outcome::Completed);
        QCOMPARE(PretrainConfig::from_json(c.to_json(), "test").init_from, model.string());
        // A resume reads its checkpoint, not the model: it works with the model gone.
        fs::rename(model, r.tmp / "model-moved");
        auto longer = c;
        longer.steps = 5;
        PretrainTrainer resumed(PretrainStage::Unet, again, *r.data, longer, job);
        QVERIFY(resumed.resume());
        QCOMPARE(resumed.train(job).steps_done, 5);
        fs::rename(r.tmp / "model-moved", model);

        // Another vocabulary: the token ids would not match.
        const auto other_vocab = r.tmp / "other-vocab";
        fs::copy(again, other_vocab, fs::copy_options::recursive);
        fs::remove_all(other_vocab / "unet");
        write_file_atomic(other_vocab / "tokenizer" / "merges.txt", "#version: 0.2\n");
        QVERIFY(error_of<ConfigError>([&] { PretrainTrainer(PretrainStage::Unet, other_vocab, *r.data, c, job); })
                    .contains("token ids"));
        // Another UNet layout: the error names the setting.
        const auto other_arch = r.tmp / "other-arch";
        fs::copy(again, other_arch, fs::copy_options::recursive);
        fs::remove_all(other_arch / "unet");
        const auto unet_config = other_arch / "arch" / "unet" / "config.json";
        auto j = json::parse(read_file_text(unet_config));
        j["attention_head_dim"] = 1;
        write_json(unet_config, j);
        QVERIFY(error_of<ConfigError>([&] { PretrainTrainer(PretrainStage::Unet, other_arch, *r.data, c, job); })
                    .contains("attention_head_dim"));
    }

    void demo_architecture_builds_exports_and_fits_the_size_budget()
    {
        test::TempDir tmp;
        const auto run = tmp / "run";
        write_shape_world(tmp / "world", 64);
        const auto data = CaptionImageSet::load(tmp / "world");
        prepare_run(run, test::source_dir() / "resources" / "models" / "demo");
        const auto v = learn_run_vocabulary(run, data);
        QVERIFY(v.learned);
        JobControl job;
        auto c = quick(PretrainConfig::vae_defaults(), 1);
        c.batch = 2;
        PretrainTrainer(PretrainStage::Vae, run, data, c, job).train(job);
        c = quick(PretrainConfig::unet_defaults(), 1);
        c.batch = 2;
        PretrainTrainer(PretrainStage::Unet, run, data, c, job).train(job);
        const auto e = export_demo_model(run, tmp / "demo", job);
        qInfo("demo architecture: %lld parameters (with this test's %lld-token vocabulary), %.2f MB fp16",
              static_cast<long long>(e.parameters), static_cast<long long>(v.vocab_size), e.bytes / 1e6);
        QVERIFY2(e.bytes < 30'000'000, qPrintable(QString::number(e.bytes)));
        for (const char* file : {"text_encoder/model.safetensors", "unet/diffusion_pytorch_model.safetensors",
                                 "vae/diffusion_pytorch_model.safetensors"}) {
            const auto st = SafetensorsFile::open(tmp / "demo" / file);
            std::int64_t n = 0;
            for (const auto& info : st.tensors())
                n += info.numel();
            qInfo("  %s: %lld parameters, %.2f MB", file, static_cast<long long>(n), st.file_size() / 1e6);
        }
        LoadModelOptions o;
        o.device = "cpu";
        o.dtype = "fp32";
        auto model = load_model(tmp / "demo", o, job);
        QCOMPARE(model->default_image_size(), 64);
        QCOMPARE(model->latent_factor(), 4);
        Text2Image t2i(model);
        GenerationRequest request;
        request.prompt = "a blue square on white";
        request.steps = 2;
        const auto result = t2i.generate(request, job);
        QCOMPARE(result.images.at(0).image.width, 64);
        QCOMPARE(result.images.at(0).image.height, 64);
    }

    // Seconds per step at the demo architecture (docs/demo-model.md). Opt-in: it takes about a
    // minute; PSA_PRETRAIN_MEASURE=1 runs it (threads: $PSA_THREADS, default 2).
    void measure_demo_step_seconds()
    {
        if (qEnvironmentVariableIntValue("PSA_PRETRAIN_MEASURE") != 1)
            QSKIP("set PSA_PRETRAIN_MEASURE=1 to measure the demo architecture's step time");
        const int threads = qEnvironmentVariableIsSet("PSA_THREADS") ? qEnvironmentVariableIntValue("PSA_THREADS") : 2;
        at::set_num_threads(threads);
        test::TempDir tmp;
        const auto run = tmp / "run";
        write_shape_world(tmp / "world", 64);
        const auto data = CaptionImageSet::load(tmp / "world");
        prepare_run(run, test::source_dir() / "resources" / "models" / "demo");
        learn_run_vocabulary(run, data);
        JobControl job;
        const auto measure = [&](PretrainStage stage, int batch) {
            auto c = quick(stage == PretrainStage::Vae ? PretrainConfig::vae_defaults() : PretrainConfig::unet_defaults(), 6);
            c.batch = batch;
            PretrainTrainer trainer(stage, run, data, c, job);
            // Wall time depends on what else runs on the machine; process CPU time per step does not
            // (on an idle machine, wall ~ CPU / threads when the threads are kept busy).
            std::vector<double> seconds, cpu_seconds;
            std::clock_t last = std::clock();
            trainer.train(job, [&](const PretrainStepStats& s) {
                const std::clock_t now = std::clock();
                seconds.push_back(s.step_seconds);
                cpu_seconds.push_back(static_cast<double>(now - last) / CLOCKS_PER_SEC);
                last = now;
            });
            // The first step warms the allocator up; the median of the other five is reported.
            std::sort(seconds.begin() + 1, seconds.end());
            std::sort(cpu_seconds.begin() + 1, cpu_seconds.end());
            qInfo("%s: %lld trainable parameters, batch %d, median %.3f s/step wall, %.3f s/step CPU "
                  "(%d threads)",
                  pretrain_stage_name(stage), static_cast<long long>(trainer.parameter_count()), batch,
                  seconds[3], cpu_seconds[3], threads);
        };
        measure(PretrainStage::Vae, 16);
        measure(PretrainStage::Unet, 32);
        at::set_num_threads(1);
    }
};

QTEST_APPLESS_MAIN(TestPretrain)
#include "test_pretrain.moc"
