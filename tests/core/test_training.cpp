// SPDX-License-Identifier: GPL-3.0-or-later
// The personalized Diffusion-DPO trainer: loss parity with PSAlign (fixture 8, incl. the saturated
// case), learning a per-user preference on the tiny fixture model, bit-identical resume on the CPU,
// the averaged (EMA) weights a run may export,
// a checkpoint write killed by SIGKILL leaving the previous one loadable, divergence handling,
// sample images, runs that start from an adapter file (and refuse one that does not fit), and
// Sage dataset validation.
#include "adapter/adapter_file_info.h"
#include "adapter/adapter_io.h"
#include "adapter/per_category_tokens.h"
#include "common/error.h"
#include "pipeline/components.h"
#include "pipeline/model_loading.h"
#include "pipeline/prompt_encoding.h"
#include "profiles/categories.h"
#include "support/parity.h"
#include "tensor_io/image_tensor.h"
#include "tensor_io/safetensors.h"
#include "training/anchor_loss.h"
#include "training/ban_mixing.h"
#include "training/checkpoint_folder.h"
#include "training/dpo_loss.h"
#include "training/preference_dataset.h"
#include "training/resume_state.h"
#include "training/routing_loss.h"
#include "training/shuffled_order.h"
#include "training/train_config.h"
#include "training/trainer.h"

#include <ATen/Parallel.h>
#include <QtTest>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <csignal>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <random>

using namespace psa;
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

std::shared_ptr<ModelComponents> tiny_model()
{
    JobControl job;
    LoadModelOptions o;
    o.device = "cpu";
    o.dtype = "fp32";
    return load_model(test::require_fixtures() / "tiny-sd", o, job);
}

// 16x16 test pictures: a background that varies with `variant`, and optionally the "feature" (a
// red block) that some users ban (category Violence, by our rules for a child).
Image picture(int variant, bool feature)
{
    Image im;
    im.width = im.height = 16;
    im.rgb.resize(16 * 16 * 3);
    for (int y = 0; y < 16; ++y)
        for (int x = 0; x < 16; ++x) {
            auto* p = im.pixel(x, y);
            p[0] = static_cast<uint8_t>(60 + 25 * variant + 3 * x);
            p[1] = static_cast<uint8_t>(90 + 10 * variant + 2 * y);
            p[2] = static_cast<uint8_t>(120 - 15 * variant + x + y);
            const int bx = 2 + 2 * variant, by = 3 + variant;
            if (feature && x >= bx && x < bx + 10 && y >= by && y < by + 10) {
                p[0] = 230;
                p[1] = 20;
                p[2] = 30;
            }
        }
    return im;
}

json user_data(const std::string& id, int age, const std::string& religion = "None")
{
    return {{"User_ID", id},        {"Age", age},
            {"Gender", "male"},     {"Religion", religion},
            {"Physical_Condition", "healthy"}, {"Mental_Condition", "healthy"}};
}

// Writes a split folder: for each user and variant, a pair whose chosen image is the one
// without the block when the user bans Violence (a child under our rules) and with it otherwise.
// category: written on every line when not empty.
void write_pair_set(const fs::path& dir, int variants, const std::string& category = {})
{
    fs::create_directories(dir / "images");
    for (int v = 0; v < variants; ++v) {
        save_image(dir / "images" / ("plain_" + std::to_string(v) + ".png"), picture(v, false));
        save_image(dir / "images" / ("block_" + std::to_string(v) + ".png"), picture(v, true));
    }
    std::ofstream out(dir / "metadata.jsonl");
    const std::vector<std::pair<std::string, int>> users = {{"0000901", 9}, {"0000902", 35}, {"0000903", 12},
                                                            {"0000904", 40}};
    for (const auto& [id, age] : users) {
        const bool bans = age < 18;
        for (int v = 0; v < variants; ++v) {
            const auto ud = user_data(id, age);
            const std::string plain = "images/plain_" + std::to_string(v) + ".png";
            const std::string block = "images/block_" + std::to_string(v) + ".png";
            json line = {{"file_name", plain},
                         {"chosen", bans ? plain : block},
                         {"rejected", bans ? block : plain},
                         {"caption", "a street scene, variant " + std::to_string(v)},
                         {"user_data", ud}};
            if (!category.empty())
                line["category"] = category;
            out << line.dump() << "\n";
        }
    }
}

TrainConfig small_config(const fs::path& data)
{
    TrainConfig c;
    c.data_dir = data.string();
    c.steps = 6;
    c.batch = 2;
    c.grad_accum = 2;
    c.lr = 1e-3;
    c.warmup_steps = 2;
    c.caption_dropout = 0.3;
    c.user_dropout = 0.3;
    c.checkpoint_every = 0;
    c.seed = 7;
    return c;
}

/// Writes a two-variant pair set into `data` (its lines' category `category`, none when empty)
/// and returns small_config over it with per-category tokens.
TrainConfig per_category_config(const fs::path& data, const std::string& category = {})
{
    write_pair_set(data, 2, category);
    auto c = small_config(data);
    c.token_layout = kPerCategoryTokens;
    return c;
}

/// per_category_config over a Violence pair set, with the tokens started at the captions.
TrainConfig caption_started_config(const fs::path& data)
{
    auto c = per_category_config(data, "Violence");
    c.token_start = kTokensStartAtCaptions;
    return c;
}

/// The mean text embedding [D] of the captions caption_started_config's pairs carry: where the
/// caption start puts every token (only Violence has captions there).
at::Tensor caption_mean(ModelComponents& model)
{
    return encode_prompts(model, {"a street scene, variant 0", "a street scene, variant 1"}, 0).mean(at::IntArrayRef{0, 1});
}

/// The run's train_log.jsonl, one object per logged step.
std::vector<json> step_log(const fs::path& run)
{
    std::ifstream log(run / "train_log.jsonl");
    std::vector<json> steps;
    for (std::string line; std::getline(log, line);)
        steps.push_back(json::parse(line));
    return steps;
}

StateDict read_tensors(const fs::path& file)
{
    StateDict out;
    const auto f = SafetensorsFile::open(file);
    for (const auto& t : f.tensors())
        out[t.name] = f.tensor(t.name).clone();
    return out;
}

// Lines of metadata.jsonl for validation tests (images written for the listed names).
void write_split(const fs::path& dir, const std::vector<std::string>& lines, const std::vector<std::string>& images)
{
    fs::create_directories(dir);
    for (const auto& name : images) {
        fs::create_directories((dir / name).parent_path());
        save_image(dir / name, picture(0, false));
    }
    std::string text;
    for (const auto& l : lines)
        text += l + "\n";
    test::write_bytes(dir / "metadata.jsonl", text);
}

std::string pair_line(const std::string& chosen, const std::string& rejected, const json& ud = user_data("0000001", 30))
{
    return json{{"file_name", chosen}, {"chosen", chosen}, {"rejected", rejected}, {"caption", "a cat"}, {"user_data", ud}}
        .dump();
}

using test::error_of;

// A term that reads whether each pair's user bans the pair's category (`reads`'s settings; only
// the loss fields, ban mixing and the token layout of both configs are used): a pair set without
// "category" is refused, naming the file and line; with one it trains, and to another adapter
// than `other`, the same run without that reading (same seed and data: half the users allow
// Violence).
void check_term_that_reads_categories(const TrainConfig& reads, const TrainConfig& other)
{
    test::TempDir tmp;
    write_pair_set(tmp / "plain", 1); // no "category" on its lines
    const auto with_settings = [](TrainConfig c, const TrainConfig& from) {
        c.steps = 2;
        c.anchor_weight = from.anchor_weight;
        c.anchor_scope = from.anchor_scope;
        c.counterpart_weight = from.counterpart_weight;
        c.counterpart_pairs = from.counterpart_pairs;
        c.ban_mixing = from.ban_mixing;
        c.routing_weight = from.routing_weight;
        c.token_layout = from.token_layout;
        c.token_start = from.token_start;
        return c;
    };
    auto c = with_settings(small_config(tmp / "plain"), reads);
    const auto msg = error_of<ConfigError>([&] { DpoTrainer(tiny_model(), c, tmp / "run"); });
    QVERIFY2(msg.contains("metadata.jsonl") && msg.contains("line 1") && msg.contains("category"), qPrintable(msg));
    write_pair_set(tmp / "named", 1, "Violence");
    c = with_settings(small_config(tmp / "named"), reads);
    JobControl job;
    auto model = tiny_model();
    DpoTrainer reading(model, c, tmp / "reads");
    QCOMPARE(reading.train(job).outcome, Outcome::Completed);
    DpoTrainer not_reading(model, with_settings(small_config(tmp / "named"), other), tmp / "other");
    QCOMPARE(not_reading.train(job).outcome, Outcome::Completed);
    const auto a = read_tensors(tmp / "reads" / "adapter.safetensors");
    const auto b = read_tensors(tmp / "other" / "adapter.safetensors");
    bool any_differs = false;
    for (const auto& [name, t] : a)
        any_differs = any_differs || !torch::equal(t, b.at(name));
    QVERIFY(any_differs);
}

// Trains `c` straight into tmp/a, and into tmp/b stopped after step 3 and resumed; the two
// adapters must be equal bit for bit.
void check_resume_matches_straight_run(const std::shared_ptr<ModelComponents>& model, const TrainConfig& c,
                                       const fs::path& tmp)
{
    JobControl job;
    {
        DpoTrainer straight(model, c, tmp / "a");
        QCOMPARE(straight.train(job).outcome, Outcome::Completed);
    }
    std::stop_source stop;
    JobControl stoppable(stop.get_token(), {});
    {
        DpoTrainer first(model, c, tmp / "b");
        const auto r = first.train(stoppable, [&](const TrainStepStats& s) {
            if (s.step == 3)
                stop.request_stop();
        });
        QCOMPARE(r.outcome, Outcome::Cancelled);
        QCOMPARE(r.steps_done, 3); // stopped within one step
        QCOMPARE(r.last_checkpoint.filename().string(), std::string("step-00000003"));
        QVERIFY(!fs::exists(tmp / "b" / "adapter.safetensors"));
    }
    {
        DpoTrainer again(model, c, tmp / "b");
        QVERIFY(again.resume());
        QCOMPARE(again.step(), 3);
        const auto r = again.train(job);
        QCOMPARE(r.outcome, Outcome::Completed);
        QCOMPARE(r.first_step, 3);
        QCOMPARE(r.steps_done, 6);
    }
    const auto a = read_tensors(tmp / "a" / "adapter.safetensors");
    const auto b = read_tensors(tmp / "b" / "adapter.safetensors");
    QCOMPARE(a.size(), b.size());
    for (const auto& [name, t] : a) {
        QVERIFY2(b.count(name), name.c_str());
        QVERIFY2(torch::equal(t, b.at(name)), qPrintable(QString::fromStdString(name + " differs after resume")));
    }
}

} // namespace

class TestTraining : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void initTestCase()
    {
        // The tiny model's tensors are too small to split: on a shared 2-core machine two OpenMP
        // threads made a training step about 5x slower than one.
        at::set_num_threads(1);
    }

    // ---- loss ----

    void dpo_loss_matches_reference()
    {
        const auto dir = test::require_fixtures() / "expected";
        const auto spec = test::read_json(dir / "dpo_loss.json");
        const auto fx = SafetensorsFile::open(dir / "dpo_loss.safetensors");
        const double beta = spec["beta_dpo"].get<double>();
        QVERIFY(spec["cases"].size() >= 2);
        QVERIFY(spec["cases"].contains("saturated"));
        for (const auto& [name, expect] : spec["cases"].items()) {
            const auto t = [&](const char* key) { return fx.tensor(name + "." + key); };
            const auto terms = dpo_loss(t("model_pred"), t("ref_pred"), t("target"), beta);
            // Tolerances from fixtures/README.md (8): 1e-3 loss and dpo_preference, 1e-6 MSE terms,
            // accuracy exact.
            PSA_COMPARE_TENSOR(name + ".loss", terms.loss, t("loss"), 1e-3);
            PSA_COMPARE_TENSOR(name + ".inside_term", terms.inside_term, t("inside_term"), 1e-3);
            PSA_COMPARE_TENSOR(name + ".model_losses", terms.model_losses, t("model_losses"), 1e-6);
            PSA_COMPARE_TENSOR(name + ".ref_losses", terms.ref_losses, t("ref_losses"), 1e-6);
            QVERIFY(std::abs(terms.loss.item<double>() - expect["loss"].get<double>()) <= 1e-3);
            QVERIFY(std::abs(terms.dpo_preference - expect["dpo_preference"].get<double>()) <= 1e-3);
            QVERIFY(std::abs(terms.model_mse - expect["model_mse"].get<double>()) <= 1e-6);
            QVERIFY(std::abs(terms.ref_mse - expect["ref_mse"].get<double>()) <= 1e-6);
            QVERIFY(std::abs(terms.model_losses_w - expect["model_losses_w"].get<double>()) <= 1e-6);
            QVERIFY(std::abs(terms.model_losses_l - expect["model_losses_l"].get<double>()) <= 1e-6);
            QCOMPARE(terms.accuracy, expect["accuracy"].get<double>());
            // A stable log-sigmoid keeps the saturated case finite, gradient included.
            const auto pred = t("model_pred").clone().requires_grad_(true);
            dpo_loss(pred, t("ref_pred"), t("target"), beta).loss.backward();
            QVERIFY(torch::isfinite(pred.grad()).all().item<bool>());
            // The SFT term adds weight * mean winning error, and its gradient reaches only the
            // winning half.
            const double w = 3.0;
            const auto with_sft = dpo_loss(t("model_pred"), t("ref_pred"), t("target"), beta, w);
            QVERIFY(std::abs(with_sft.loss.item<double>() - (terms.loss.item<double>() + w * terms.model_losses_w)) <=
                    1e-5 * (1 + std::abs(with_sft.loss.item<double>())));
            QCOMPARE(with_sft.accuracy, terms.accuracy);
            const auto p2 = t("model_pred").clone().requires_grad_(true);
            dpo_loss(p2, t("ref_pred"), t("target"), beta, w).loss.backward();
            const auto extra = (p2.grad() - pred.grad()).chunk(2);
            QVERIFY(extra[0].abs().max().item<double>() > 0);
            QVERIFY(extra[1].abs().max().item<double>() <= 1e-6 * (1 + pred.grad().abs().max().item<double>()));
        }
    }

    // ---- learning ----

    void tiny_model_learns_personal_preferences()
    {
        test::TempDir tmp;
        write_pair_set(tmp / "data", 2);
        auto model = tiny_model();
        // The random-weight tiny UNet errs ~15x more than a trained SD 1.5 (MSE 1.4 vs 0.09), so
        // the reference beta of 5000 puts every pair deep in the saturated regime; beta 50 with a
        // larger lr trains it smoothly. Four user tokens let the user attention depend on the
        // content (PSA.md "do better" 1); one token also learns, more slowly (0.95 after 250 steps).
        TrainConfig c;
        c.data_dir = (tmp / "data").string();
        c.steps = 200;
        c.batch = 4;
        c.lr = 5e-3;
        c.beta_dpo = 50;
        c.num_tokens = 4;
        c.warmup_steps = 10;
        c.checkpoint_every = 0;
        c.seed = 1;
        DpoTrainer trainer(model, c, tmp / "run");
        QCOMPARE(static_cast<int>(trainer.dataset().size()), 8);
        const auto before = trainer.evaluate(0, 8);
        qInfo("before: eval loss %.4f accuracy %.3f (model mse %.4f, ref mse %.4f)", before.loss, before.accuracy,
              before.model_mse, before.ref_mse);
        QVERIFY(std::abs(before.loss - std::log(2.0)) < 1e-6); // a zero adapter changes nothing
        double window_loss = 0, window_acc = 0, step_seconds = 0;
        std::vector<std::pair<double, double>> curve;
        JobControl job;
        const auto t0 = std::chrono::steady_clock::now();
        const auto result = trainer.train(job, [&](const TrainStepStats& s) {
            window_loss += s.loss;
            window_acc += s.accuracy;
            step_seconds += trainer.last_step_seconds();
            if (s.step % 25 == 0) {
                qInfo("step %3d  loss %.4f  acc %.3f  (mean of 25 steps)  lr %.2g  grad %.3g  model mse %.4f  ref "
                      "mse %.4f  %.1f it/s",
                      s.step, window_loss / 25, window_acc / 25, s.lr, s.grad_norm, s.model_mse, s.ref_mse,
                      s.steps_per_second);
                curve.emplace_back(window_loss / 25, window_acc / 25);
                window_loss = window_acc = 0;
            }
        });
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        QCOMPARE(result.outcome, Outcome::Completed);
        QCOMPARE(result.steps_done, c.steps);
        QVERIFY(fs::is_regular_file(result.adapter));
        const auto after = trainer.evaluate(0, 8);
        qInfo("after:  eval loss %.4f accuracy %.3f; %.1f s for %d steps, %.1f ms per step (batch 4 pairs, %d "
              "thread)",
              after.loss, after.accuracy, seconds, c.steps, 1000 * step_seconds / c.steps, at::get_num_threads());
        QVERIFY2(after.accuracy >= 0.9, qPrintable(QString("accuracy %1").arg(after.accuracy)));
        QVERIFY2(after.loss < 0.6 * before.loss, qPrintable(QString("loss %1").arg(after.loss)));
        QVERIFY(curve.back().first < curve.front().first);
    }

    // The anchor term (training/anchor_loss.h): the mask is the cells away from where the pair
    // differs, and the term is the policy-reference distance over exactly those cells.
    void anchor_term_covers_where_the_pair_agrees()
    {
        auto w = torch::zeros({2, 4, 6, 6});
        auto l = w.clone();
        l.index_put_({0, torch::indexing::Slice(), 2, 3}, 1.0);      // pair 0 differs in cell (2, 3) ...
        l.index_put_({0, 1, 5, 0}, 0.1);                            // ... and negligibly in (5, 0)
        const auto agree = pair_agreement_mask(w, l);                // pair 1 does not differ at all
        QCOMPARE(agree.sizes().vec(), (std::vector<int64_t>{2, 1, 6, 6}));
        for (int64_t y = 0; y < 6; ++y)
            for (int64_t x = 0; x < 6; ++x) {
                const bool near = std::abs(y - 2) <= 1 && std::abs(x - 3) <= 1;
                QCOMPARE(agree[0][0][y][x].item<float>(), near ? 0.0f : 1.0f);
                QCOMPARE(agree[1][0][y][x].item<float>(), 1.0f);
            }
        // [2B] predictions: an error of 2 inside the difference and 1 outside, in sample 0 only.
        auto model = torch::zeros({4, 4, 6, 6});
        model.index_put_({0}, 1.0);
        model.index_put_({0, torch::indexing::Slice(), 2, 3}, 2.0);
        const auto ref = torch::zeros_like(model);
        // Sample 0 sees error 1 on its 27 agreed cells; the others see none: mean (1 + 0 + 0 + 0) / 4.
        QCOMPARE(anchored_mse(model, ref, agree).item<double>(), 0.25);
        QCOMPARE(anchored_mse(ref, ref, agree).item<double>(), 0.0);
        // Row flags: pair 0 held over the whole image adds its difference cell, (35 * 1 + 4) / 36;
        // pair 1 agreed everywhere already.
        const double whole0 = anchored_mse(model, ref, agree, torch::tensor({1.0f, 0.0f})).item<double>();
        QVERIFY2(std::abs(whole0 - (39.0 / 36.0) / 4.0) < 1e-6, qPrintable(QString::number(whole0)));
        QCOMPARE(anchored_mse(model, ref, agree, torch::tensor({0.0f, 1.0f})).item<double>(), 0.25);
        auto bad = TrainConfig();
        bad.anchor_weight = -1;
        QVERIFY(error_of<InvalidRequest>([&] { bad.validate(); }).contains("anchor_weight"));
        TrainConfig c;
        c.anchor_weight = 2.5;
        QCOMPARE(TrainConfig::from_json(c.to_json(), "test").anchor_weight, 2.5);
    }

    // The routing term: -log of the user attention on the pair's token, averaged over the cells
    // where the pair differs, pooled to each layer's grid.
    void routing_term_is_the_cross_entropy_at_the_concept()
    {
        QCOMPARE(attention_grid(256, 16, 16), (std::pair<int64_t, int64_t>{16, 16}));
        QCOMPARE(attention_grid(16, 16, 16), (std::pair<int64_t, int64_t>{4, 4}));
        QCOMPARE(attention_grid(6, 9, 5), (std::pair<int64_t, int64_t>{3, 2})); // 9x5 -> 5x3 -> 3x2
        QVERIFY(error_of<InvalidRequest>([] { attention_grid(7, 16, 16); }).contains("7 cells"));

        // Two pairs on a 4x4 latent, three tokens, two heads; layers at 4x4 and 2x2.
        auto place = torch::zeros({2, 1, 4, 4});
        place.index_put_({0, 0, torch::indexing::Slice(0, 2), torch::indexing::Slice(0, 2)}, 1.0); // pair 0: top left
        place.index_put_({1, 0, torch::indexing::Slice(2, 4), torch::indexing::Slice(2, 4)}, 1.0); // pair 1: bottom right
        const auto token = torch::tensor({int64_t(2), int64_t(0)});
        // Weights that put 0.8 on each pair's token inside its place and 0.1 on it elsewhere.
        const auto weights_on = [&](int64_t side) {
            auto w = torch::full({4, 2, side * side, 3}, 0.45);
            const auto place_cells = torch::adaptive_avg_pool2d(place, {side, side}).reshape({2, side * side});
            for (int64_t row = 0; row < 4; ++row) {
                const int64_t pair = row % 2, t = token[pair].item<int64_t>();
                for (int64_t n = 0; n < side * side; ++n) {
                    const bool inside = place_cells[pair][n].item<float>() > 0;
                    w.index_put_({row, torch::indexing::Slice(), n}, inside ? 0.1 : 0.45);
                    w.index_put_({row, torch::indexing::Slice(), n, t}, inside ? 0.8 : 0.1);
                }
            }
            return w;
        };
        const std::vector<at::Tensor> sharp = {weights_on(4), weights_on(2)};
        QVERIFY(std::abs(routing_cross_entropy(sharp, place, token).item<double>() + std::log(0.8)) < 1e-5);
        // An even spread costs ln 3 whatever the place.
        const std::vector<at::Tensor> even = {torch::full({4, 2, 16, 3}, 1.0 / 3), torch::full({4, 2, 4, 3}, 1.0 / 3)};
        QVERIFY(std::abs(routing_cross_entropy(even, place, token).item<double>() - std::log(3.0)) < 1e-5);
        // The wrong token at the place costs -ln 0.1 (0.45 of the first token is not pair 0's).
        auto wrong = token.clone();
        wrong[0] = 1;
        const double mixed = routing_cross_entropy(sharp, place, wrong).item<double>();
        QVERIFY2(std::abs(mixed - (-std::log(0.1) - std::log(0.8)) / 2) < 1e-4, qPrintable(QString::number(mixed)));
        // Rows: only pair 1 counts, and it is routed well.
        QVERIFY(std::abs(routing_cross_entropy(sharp, place, wrong, torch::tensor({0.0f, 1.0f})).item<double>() +
                         std::log(0.8)) < 1e-5);
        // No place at all: nothing to ask.
        QCOMPARE(routing_cross_entropy(even, torch::zeros_like(place), token).item<double>(), 0.0);
        // It has a gradient towards the pair's token.
        auto logits = torch::zeros({4, 2, 16, 3}, torch::requires_grad());
        routing_cross_entropy({logits.softmax(-1)}, place, token).backward();
        QVERIFY(logits.grad()[0][0][0][2].item<float>() < 0); // pair 0's token inside its place: raise it
        QCOMPARE(logits.grad()[0][0][15][2].item<float>(), 0.0f); // outside the place: untouched

        // With a sink token (here token 1) the cells outside the place are asked for the sink.
        QVERIFY(std::abs(routing_cross_entropy_with_sink(even, 1 - place, token, 1).item<double>() - 2 * std::log(3.0)) <
                1e-5);
        auto sink_logits = torch::zeros({4, 2, 16, 3}, torch::requires_grad());
        routing_cross_entropy_with_sink({sink_logits.softmax(-1)}, 1 - place, token, 1).backward();
        QVERIFY(sink_logits.grad()[0][0][15][1].item<float>() < 0); // outside pair 0's place: raise the sink
        QVERIFY(sink_logits.grad()[0][0][0][1].item<float>() > 0);  // inside it: the pair's token, not the sink
        QVERIFY(sink_logits.grad()[0][0][0][2].item<float>() < 0);

        TrainConfig bad;
        bad.routing_weight = -1;
        QVERIFY(error_of<InvalidRequest>([&] { bad.validate(); }).contains("routing_weight"));
        bad.routing_weight = 1; // dense tokens: no token is a category's
        QVERIFY(error_of<InvalidRequest>([&] { bad.validate(); }).contains("per-category"));
        TrainConfig c;
        c.token_layout = kPerCategoryTokens;
        c.routing_weight = 2.5;
        QCOMPARE(TrainConfig::from_json(c.to_json(), "test").routing_weight, 2.5);
    }

    // In a run, the term needs each pair's category, trains another adapter, is logged, and
    // sharpens the routing it measures.
    void routing_term_sends_the_concepts_place_to_its_token()
    {
        TrainConfig routing;
        routing.token_layout = kPerCategoryTokens;
        routing.routing_weight = 5;
        auto none = routing;
        none.routing_weight = 0;
        check_term_that_reads_categories(routing, none);

        test::TempDir tmp;
        auto c = caption_started_config(tmp / "data");
        c.routing_weight = 50; // the term alone, nearly
        c.lr = 2e-2;
        c.steps = 12;
        c.user_dropout = 0;
        DpoTrainer trainer(tiny_model(), c, tmp / "run");
        JobControl job;
        QCOMPARE(trainer.train(job).outcome, Outcome::Completed);
        std::vector<double> ce;
        for (const auto& step : step_log(tmp / "run"))
            ce.push_back(step.at("routing").get<double>());
        QCOMPARE(ce.size(), size_t(12));
        const double tokens = static_cast<double>(CategorySet::builtin().size());
        QVERIFY2(ce.front() > 0 && ce.front() < std::log(tokens) + 0.5, qPrintable(QString::number(ce.front())));
        QVERIFY2(ce.back() < ce.front() - 0.1, qPrintable(QString("%1 -> %2").arg(ce.front()).arg(ce.back())));
    }

    // A routing stage trains the term alone: the value maps stay at zero, so the adapter changes
    // nothing (policy error = reference error), while the routing moves; DPO follows it.
    void routing_stage_changes_no_image()
    {
        test::TempDir tmp;
        auto c = caption_started_config(tmp / "data");
        c.routing_weight = 2;
        c.routing_steps = 4;
        c.steps = 6;
        c.checkpoint_every = 4;
        DpoTrainer trainer(tiny_model(), c, tmp / "run");
        trainer.save_adapter(tmp / "start.safetensors");
        JobControl job;
        QCOMPARE(trainer.train(job).outcome, Outcome::Completed);
        const auto lines = step_log(tmp / "run");
        QCOMPARE(lines.size(), size_t(6));
        for (size_t i = 0; i < 4; ++i) {
            const double model = lines[i].at("model_mse"), ref = lines[i].at("ref_mse");
            QVERIFY2(std::abs(model - ref) <= 1e-5 * ref, qPrintable(QString("step %1: %2 vs %3").arg(i + 1).arg(model).arg(ref)));
            QVERIFY(std::abs(lines[i].at("loss").get<double>() - 2 * lines[i].at("routing").get<double>()) < 1e-4);
        }
        const auto start = read_tensors(tmp / "start.safetensors");
        const auto staged = read_tensors(tmp / "run" / "checkpoints" / checkpoint_folder_name(4) / "adapter.safetensors");
        const auto end = read_tensors(tmp / "run" / "adapter.safetensors");
        int values = 0, keys_moved = 0, values_moved_after = 0;
        for (const auto& [name, t] : start) {
            if (name.find(".to_v_user.") != std::string::npos) {
                ++values;
                QVERIFY2(torch::equal(t, staged.at(name)), name.c_str());
                values_moved_after += torch::equal(t, end.at(name)) ? 0 : 1;
            } else if (name.find(".to_k_user.") != std::string::npos) {
                keys_moved += torch::equal(t, staged.at(name)) ? 0 : 1;
            }
        }
        QVERIFY(values > 0);
        QVERIFY(keys_moved > 0);
        QVERIFY(values_moved_after > 0); // DPO after the stage
        TrainConfig bad;
        bad.token_layout = kPerCategoryTokens;
        bad.routing_steps = 3;
        QVERIFY(error_of<InvalidRequest>([&] { bad.validate(); }).contains("routing_weight"));
        bad.routing_weight = 1;
        bad.routing_steps = bad.steps;
        QVERIFY(error_of<InvalidRequest>([&] { bad.validate(); }).contains("routing_steps"));
        bad.routing_steps = 3;
        QCOMPARE(TrainConfig::from_json(bad.to_json(), "test").routing_steps, 3);
    }

    // The counterpart term: the chosen image's error over exactly the cells the anchor leaves out.
    void counterpart_term_covers_where_the_pair_differs()
    {
        auto w = torch::zeros({2, 4, 6, 6});
        auto l = w.clone();
        l.index_put_({0, torch::indexing::Slice(), 2, 3}, 1.0); // pair 0 differs around (2, 3): 9 cells
        const auto agree = pair_agreement_mask(w, l);            // pair 1 agrees everywhere
        // [2B] = [chosen 0, chosen 1, rejected 0, rejected 1]; the target is 0.
        auto model = torch::zeros({4, 4, 6, 6});
        model.index_put_({0}, 1.0);                                       // error 1 everywhere ...
        model.index_put_({0, torch::indexing::Slice(), 2, 3}, 3.0);       // ... 3 at the difference's centre
        model.index_put_({2}, 5.0);                                       // the rejected half is not scored
        model.index_put_({1}, 7.0);                                       // pair 1 has no differing cell
        const auto target = torch::zeros_like(model);
        // Pair 0: (8 cells * 1 + 1 cell * 9) / 9 cells; pair 1: 0. Mean over the 2 pairs.
        const double term = counterpart_mse(model, target, agree).item<double>();
        QVERIFY2(std::abs(term - (17.0 / 9.0) / 2.0) < 1e-6, qPrintable(QString::number(term)));
        QCOMPARE(counterpart_mse(target, target, agree).item<double>(), 0.0);
        // Row flags: pair 0 left out leaves nothing; pair 0 alone is the unflagged term.
        QCOMPARE(counterpart_mse(model, target, agree, torch::tensor({0.0f, 1.0f})).item<double>(), 0.0);
        const double pair0 = counterpart_mse(model, target, agree, torch::tensor({1.0f, 0.0f})).item<double>();
        QVERIFY(std::abs(pair0 - term) < 1e-6);
        auto bad = TrainConfig();
        bad.counterpart_weight = -1;
        QVERIFY(error_of<InvalidRequest>([&] { bad.validate(); }).contains("counterpart_weight"));
        TrainConfig c;
        c.counterpart_weight = 1.5;
        c.counterpart_pairs = "banned";
        const auto back = TrainConfig::from_json(c.to_json(), "test");
        QCOMPARE(back.counterpart_weight, 1.5);
        QCOMPARE(back.counterpart_pairs, std::string("banned"));
        c.counterpart_pairs = "some";
        QVERIFY(error_of<InvalidRequest>([&] { c.validate(); }).contains("counterpart_pairs"));
    }

    void counterpart_on_banned_pairs_needs_each_pairs_category()
    {
        TrainConfig banned_only;
        banned_only.counterpart_weight = 1;
        banned_only.counterpart_pairs = "banned";
        auto every_pair = banned_only;
        every_pair.counterpart_pairs = "all";
        check_term_that_reads_categories(banned_only, every_pair);
    }

    // The anchor's "allowed" scope: also the whole image of the pairs whose user allows the
    // category; it needs each pair's category and trains a different adapter than "agreement".
    void anchor_on_allowed_pairs_needs_each_pairs_category()
    {
        TrainConfig bad;
        bad.anchor_scope = "everywhere";
        QVERIFY(error_of<InvalidRequest>([&] { bad.validate(); }).contains("anchor_scope"));
        TrainConfig allowed_whole;
        allowed_whole.anchor_weight = 1;
        allowed_whole.anchor_scope = "allowed";
        QCOMPARE(TrainConfig::from_json(allowed_whole.to_json(), "test").anchor_scope, std::string("allowed"));
        auto agreement_only = allowed_whole;
        agreement_only.anchor_scope = "agreement";
        check_term_that_reads_categories(allowed_whole, agreement_only);
    }

    // Ban mixing: the other categories' bans come from a donor, the pair's own stays, and so do the
    // attributes; a row that cannot hold the categories is refused.
    void ban_mixing_keeps_the_pairs_own_ban()
    {
        const auto own = torch::tensor({1.0f, 0.0f, 1.0f, 0.0f, 0.42f});
        const auto donor = torch::tensor({0.0f, 1.0f, 0.0f, 1.0f, 0.9f});
        const auto mixed = mix_other_bans(own, donor, 2, 4);
        QVERIFY(torch::equal(mixed, torch::tensor({0.0f, 1.0f, 1.0f, 1.0f, 0.42f})));
        QVERIFY(torch::equal(own, torch::tensor({1.0f, 0.0f, 1.0f, 0.0f, 0.42f}))); // inputs untouched
        QVERIFY(error_of<InvalidRequest>([&] { mix_other_bans(own, donor, 4, 4); }).contains("category 4 of 4"));
        QVERIFY(error_of<InvalidRequest>([&] { mix_other_bans(own, donor, 0, 6); }).contains("5"));
    }

    // It is a probability, only for per-category tokens, round-trips, needs each pair's category,
    // and trains a different adapter than the same run whose coins never mix.
    void ban_mixing_needs_per_category_tokens_and_categories()
    {
        TrainConfig bad;
        bad.token_layout = kPerCategoryTokens;
        bad.ban_mixing = 1.5;
        QVERIFY(error_of<InvalidRequest>([&] { bad.validate(); }).contains("ban_mixing"));
        bad.ban_mixing = 0.5;
        bad.token_layout = kDenseTokens;
        QVERIFY(error_of<InvalidRequest>([&] { bad.validate(); }).contains("per-category"));
        TrainConfig mixing;
        mixing.token_layout = kPerCategoryTokens;
        mixing.ban_mixing = 1;
        QCOMPARE(TrainConfig::from_json(mixing.to_json(), "test").ban_mixing, 1.0);
        // Mixing draws its coins from the run's generator; a probability that never fires keeps
        // those draws, so the two runs differ only in the mixed rows.
        auto unmixed = mixing;
        unmixed.ban_mixing = 1e-12;
        check_term_that_reads_categories(mixing, unmixed);
    }

    // ---- resume, checkpoints ----

    // Ban mixing draws its coins and donors from the run's generator, which checkpoints keep.
    void resumed_run_with_ban_mixing_is_bit_identical()
    {
        test::TempDir tmp;
        auto c = per_category_config(tmp / "data", "Violence");
        c.ban_mixing = 0.5;
        check_resume_matches_straight_run(tiny_model(), c, tmp.path());
    }

    void resumed_run_is_bit_identical()
    {
        test::TempDir tmp;
        write_pair_set(tmp / "data", 2);
        auto model = tiny_model();
        const auto c = small_config(tmp / "data");
        JobControl job;
        check_resume_matches_straight_run(model, c, tmp.path());
        if (QTest::currentTestFailed())
            return;
        const auto a = read_tensors(tmp / "a" / "adapter.safetensors");
        QVERIFY(a.count("null_user_embedding"));
        QVERIFY(a.at("psa_adapter.0.to_v_user.0.weight").abs().max().item<double>() > 0); // it trained
        // A fresh run refuses a folder that holds a run.
        DpoTrainer fresh(model, c, tmp / "b");
        QVERIFY(!error_of<InvalidRequest>([&] { fresh.train(job); }).isEmpty());
        // Resuming with other trajectory settings is refused, naming the setting.
        auto other = c;
        other.lr = 2e-3;
        DpoTrainer changed(model, other, tmp / "b");
        QVERIFY(error_of<InvalidRequest>([&] { changed.resume(); }).contains("lr"));
        // A learning-rate decay may be added to a resumed run (to end a constant-rate run).
        auto decaying = c;
        decaying.lr_decay_from = c.steps - 1;
        DpoTrainer with_decay(model, decaying, tmp / "b");
        QVERIFY(with_decay.resume());
    }

    void averaged_weights_follow_the_run_and_resume()
    {
        test::TempDir tmp;
        write_pair_set(tmp / "data", 2);
        auto model = tiny_model();
        auto c = small_config(tmp / "data");
        c.ema_decay = 0.9;
        c.checkpoint_every = 1;
        c.keep_checkpoints = 100;
        JobControl job;
        {
            DpoTrainer straight(model, c, tmp / "a");
            straight.save_adapter(tmp / "start.safetensors");
            QCOMPARE(straight.train(job).outcome, Outcome::Completed);
        }
        // The exported adapter is the average recomputed from the weights after every step
        // (each checkpoint's adapter.safetensors), with the decay's warm-up.
        const auto checkpoint = [&](const fs::path& run, int step) {
            return run / "checkpoints" / checkpoint_folder_name(step);
        };
        auto expected = read_tensors(tmp / "start.safetensors");
        for (int k = 1; k <= c.steps; ++k) {
            const double d = std::min(c.ema_decay, (1.0 + k) / (10.0 + k));
            const auto w = read_tensors(checkpoint(tmp / "a", k) / "adapter.safetensors");
            for (auto& [name, t] : expected)
                t = d * t + (1 - d) * w.at(name);
        }
        const auto exported = read_tensors(tmp / "a" / "adapter.safetensors");
        const auto last = read_tensors(checkpoint(tmp / "a", c.steps) / "adapter.safetensors");
        const auto in_checkpoint = read_tensors(checkpoint(tmp / "a", c.steps) / "adapter-ema.safetensors");
        QCOMPARE(exported.size(), expected.size());
        for (const auto& [name, t] : expected) {
            QVERIFY2(torch::allclose(exported.at(name), t, 1e-5, 1e-7), name.c_str());
            QVERIFY2(torch::equal(in_checkpoint.at(name), exported.at(name)), name.c_str());
        }
        const auto key = "psa_adapter.0.to_v_user.0.weight";
        QVERIFY(!torch::allclose(exported.at(key), last.at(key))); // it is not the last weights
        QVERIFY(exported.at(key).abs().max().item<double>() > 0);

        // Stopped and resumed, the average continues bit for bit.
        std::stop_source stop;
        JobControl stoppable(stop.get_token(), {});
        {
            DpoTrainer first(model, c, tmp / "b");
            first.train(stoppable, [&](const TrainStepStats& s) {
                if (s.step == 3)
                    stop.request_stop();
            });
        }
        {
            DpoTrainer again(model, c, tmp / "b");
            QVERIFY(again.resume());
            QCOMPARE(again.train(job).outcome, Outcome::Completed);
        }
        const auto resumed = read_tensors(tmp / "b" / "adapter.safetensors");
        for (const auto& [name, t] : exported)
            QVERIFY2(torch::equal(resumed.at(name), t), qPrintable(QString::fromStdString(name + " differs after resume")));

        // A checkpoint that lost its average is refused, naming the file; so is a decay of 1.
        fs::copy(tmp / "a", tmp / "c", fs::copy_options::recursive);
        for (int k = c.steps; k >= c.steps - 1; --k)
            fs::remove_all(checkpoint(tmp / "c", k));
        fs::remove(checkpoint(tmp / "c", c.steps - 2) / "adapter-ema.safetensors");
        DpoTrainer damaged(model, c, tmp / "c");
        QVERIFY(error_of<ModelLoadError>([&] { damaged.resume(); }).contains("adapter-ema.safetensors"));
        auto bad = c;
        bad.ema_decay = 1.0;
        QVERIFY(error_of<InvalidRequest>([&] { bad.validate(); }).contains("ema_decay"));
    }

    void checkpoint_killed_while_writing_keeps_previous_one()
    {
        test::TempDir tmp;
        write_pair_set(tmp / "data", 2);
        auto model = tiny_model();
        auto c = small_config(tmp / "data");
        c.steps = 4;
        c.checkpoint_every = 2;
        const fs::path run = tmp / "run";
        std::stop_source stop;
        JobControl job(stop.get_token(), {});
        DpoTrainer trainer(model, c, run);
        const pid_t parent = ::getpid();
        trainer.set_checkpoint_hook([parent](const fs::path& written) {
            // Only the child dies, right after the first file of its checkpoint is on disk.
            if (::getpid() != parent && written.filename() == "adapter.safetensors")
                ::raise(SIGKILL);
        });
        int child_status = -1;
        pid_t child = -1;
        std::optional<fs::path> latest_after_kill;
        bool partial_left = false, state_absent = false;
        trainer.train(job, [&](const TrainStepStats& s) {
            if (s.step != 3)
                return;
            child = ::fork();
            if (child == 0) {
                at::set_num_threads(1); // no OpenMP team after fork
                trainer.save_checkpoint(); // killed inside
                ::_exit(3);
            }
            ::waitpid(child, &child_status, 0);
            const auto tmp_dir = run / "checkpoints" / (".tmp-step-00000003-" + std::to_string(child));
            partial_left = fs::is_regular_file(tmp_dir / "adapter.safetensors");
            state_absent = !fs::exists(tmp_dir / "state.json");
            latest_after_kill = DpoTrainer::latest_checkpoint(run);
            stop.request_stop();
        });
        QVERIFY(child > 0);
        QVERIFY2(WIFSIGNALED(child_status) && WTERMSIG(child_status) == SIGKILL, "the child was not SIGKILLed");
        QVERIFY(partial_left);
        QVERIFY(state_absent);
        QVERIFY(latest_after_kill);
        QCOMPARE(latest_after_kill->filename().string(), std::string("step-00000002"));
        // The previous checkpoint loads; a stale temporary folder is ignored and then cleaned up.
        fs::remove_all(run / "checkpoints" / "step-00000003"); // the parent's own save on stop
        DpoTrainer again(model, c, run);
        QVERIFY(again.resume());
        QCOMPARE(again.step(), 2);
        JobControl plain;
        QCOMPARE(again.train(plain).outcome, Outcome::Completed);
        for (const auto& e : fs::directory_iterator(run / "checkpoints"))
            QVERIFY2(e.path().filename().string().rfind(".tmp-", 0) != 0, "a temporary folder was left");
    }

    void diverging_loss_stops_and_keeps_last_checkpoint()
    {
        test::TempDir tmp;
        write_pair_set(tmp / "data", 2);
        auto model = tiny_model();
        auto c = small_config(tmp / "data");
        c.steps = 2;
        JobControl job;
        {
            DpoTrainer t(model, c, tmp / "run");
            t.train(job);
        }
        // Poison the checkpoint's adapter: its user tokens become NaN.
        const auto ck = *DpoTrainer::latest_checkpoint(tmp / "run");
        const auto file = ck / "adapter.safetensors";
        const auto f = SafetensorsFile::open(file);
        NamedTensors poisoned;
        for (const auto& t : f.tensors()) {
            auto v = f.tensor(t.name).clone();
            if (t.name == "user_proj.norm.bias")
                v.fill_(std::numeric_limits<float>::quiet_NaN());
            poisoned.emplace_back(t.name, v);
        }
        save_safetensors(file, poisoned, f.metadata());
        c.steps = 4;
        DpoTrainer t(model, c, tmp / "run");
        QVERIFY(t.resume());
        const auto msg = error_of<Error>([&] { t.train(job); });
        qInfo("%s", qPrintable(msg));
        QVERIFY(msg.contains("diverged at step 3"));
        QVERIFY(msg.contains("nan"));
        QVERIFY(msg.contains("step-00000002"));
        QCOMPARE(DpoTrainer::latest_checkpoint(tmp / "run")->filename().string(), std::string("step-00000002"));
    }

    void stop_before_first_step_is_cancelled_without_checkpoint()
    {
        test::TempDir tmp;
        write_pair_set(tmp / "data", 1);
        auto model = tiny_model();
        std::stop_source stop;
        stop.request_stop();
        JobControl job(stop.get_token(), {});
        DpoTrainer t(model, small_config(tmp / "data"), tmp / "run");
        const auto r = t.train(job);
        QCOMPARE(r.outcome, Outcome::Cancelled);
        QCOMPARE(r.steps_done, 0);
        QVERIFY(!DpoTrainer::latest_checkpoint(tmp / "run"));
    }

    void stop_mid_run_keeps_the_last_completed_step()
    {
        // A stop requested after step 2 must end the run before step 3's first micro-batch, with
        // a checkpoint of step 2 from which the run then completes.
        test::TempDir tmp;
        write_pair_set(tmp / "data", 1);
        auto model = tiny_model();
        std::stop_source stop;
        JobControl job(stop.get_token(), {});
        const auto c = small_config(tmp / "data");
        int last_step_seen = 0;
        {
            DpoTrainer t(model, c, tmp / "run");
            const auto r = t.train(job, [&](const TrainStepStats& s) {
                last_step_seen = s.step;
                if (s.step == 2)
                    stop.request_stop();
            });
            QCOMPARE(r.outcome, Outcome::Cancelled);
            QCOMPARE(r.steps_done, 2);
            QCOMPARE(last_step_seen, 2);
        }
        QCOMPARE(DpoTrainer::latest_checkpoint(tmp / "run")->filename().string(), std::string("step-00000002"));
        DpoTrainer resumed(model, c, tmp / "run");
        QVERIFY(resumed.resume());
        QCOMPARE(resumed.step(), 2);
        JobControl fresh;
        const auto r = resumed.train(fresh);
        QCOMPARE(r.outcome, Outcome::Completed);
        QCOMPARE(r.first_step, 2);
        QCOMPARE(r.steps_done, c.steps);
    }

    // ---- starting from an adapter file ----

    void run_starts_from_an_adapter_file()
    {
        test::TempDir tmp;
        write_pair_set(tmp / "data", 2);
        auto model = tiny_model();
        JobControl job;
        auto c = small_config(tmp / "data");
        c.num_tokens = 2;
        {
            DpoTrainer earlier(model, c, tmp / "earlier");
            QCOMPARE(earlier.train(job).outcome, Outcome::Completed);
        }
        const auto file = tmp / "earlier" / "adapter.safetensors";
        const auto info = read_adapter_file_info(file);
        QCOMPARE(info.num_tokens, int64_t{2});
        QCOMPARE(info.profile_encoder, std::string("structured"));
        QVERIFY(info.learned_null_user);
        QCOMPARE(info.layer_dims.size(), model->unet->cross_attention_layers().size());

        // At step 0 the run holds exactly the file's weights (another seed would start elsewhere).
        auto fine = c;
        fine.seed = 99;
        fine.init_adapter = file.string();
        DpoTrainer started(model, fine, tmp / "fine");
        started.save_adapter(tmp / "step0.safetensors");
        const auto expected = read_tensors(file);
        const auto step0 = read_tensors(tmp / "step0.safetensors");
        QCOMPARE(step0.size(), expected.size());
        for (const auto& [name, t] : expected) {
            QVERIFY2(step0.count(name), name.c_str());
            QVERIFY2(torch::equal(t, step0.at(name)), qPrintable(QString::fromStdString(name + " differs")));
        }

        // The reference stays the model without adapter: the same error as a fresh run's, while
        // the policy (the file's adapter) predicts differently from it. A fresh adapter does not.
        auto plain = fine;
        plain.init_adapter.clear();
        DpoTrainer fresh(model, plain, tmp / "fresh");
        const auto at_start = started.evaluate(0, 1, 5);
        const auto at_fresh = fresh.evaluate(0, 1, 5);
        QCOMPARE(at_start.ref_mse, at_fresh.ref_mse);
        QVERIFY2(std::abs(at_fresh.model_mse - at_fresh.ref_mse) <= 1e-7 * at_fresh.ref_mse,
                 qPrintable(QString("fresh %1 vs %2").arg(at_fresh.model_mse).arg(at_fresh.ref_mse)));
        QVERIFY2(std::abs(at_start.model_mse - at_start.ref_mse) > 1e-5 * at_start.ref_mse,
                 qPrintable(QString("from file %1 vs %2").arg(at_start.model_mse).arg(at_start.ref_mse)));

        // It trains on; stopped and resumed, the run takes its weights from the checkpoint, so the
        // starting file may have moved meanwhile. The run records where it started from.
        std::stop_source stop;
        JobControl stoppable(stop.get_token(), {});
        const auto first = started.train(stoppable, [&](const TrainStepStats& s) {
            if (s.step == 2)
                stop.request_stop();
        });
        QCOMPARE(first.outcome, Outcome::Cancelled);
        fs::rename(file, tmp / "moved.safetensors");
        DpoTrainer resumed(model, fine, tmp / "fine");
        QVERIFY(resumed.resume());
        QCOMPARE(resumed.step(), 2);
        QCOMPARE(resumed.train(job).outcome, Outcome::Completed);
        QCOMPARE(DpoTrainer::stored_config(tmp / "fine").init_adapter, file.string());
        const auto trained = read_tensors(tmp / "fine" / "adapter.safetensors");
        QVERIFY(!torch::equal(trained.at("user_proj.proj.weight"), expected.at("user_proj.proj.weight")));
    }

    void mismatching_adapter_file_is_refused_naming_it()
    {
        test::TempDir tmp;
        write_pair_set(tmp / "data", 1);
        auto model = tiny_model();
        auto c = small_config(tmp / "data");
        c.steps = 1;
        c.num_tokens = 2;
        {
            JobControl job;
            DpoTrainer earlier(model, c, tmp / "earlier");
            QCOMPARE(earlier.train(job).outcome, Outcome::Completed);
        }
        const auto file = (tmp / "earlier" / "adapter.safetensors").string();
        const auto refusal = [&](TrainConfig config) {
            config.init_adapter = file;
            return error_of<ConfigError>([&] { DpoTrainer t(model, config, tmp / "run"); });
        };
        auto one_token = c;
        one_token.num_tokens = 1;
        auto msg = refusal(one_token);
        QVERIFY2(msg.startsWith(QString::fromStdString(file) + ": 2 user tokens, the run asks for 1"), qPrintable(msg));
        auto no_null = c;
        no_null.learned_null_user = false;
        msg = refusal(no_null);
        QVERIFY2(msg.contains(QString::fromStdString(file)) && msg.contains("learned null user"), qPrintable(msg));
        auto both = no_null;
        both.num_tokens = 4;
        msg = refusal(both); // every mismatch at once
        QVERIFY2(msg.contains("asks for 4") && msg.contains("learned null user"), qPrintable(msg));

        // Weights that are no adapter, and a missing file, are named too.
        auto unet = c;
        unet.init_adapter = (test::require_fixtures() / "tiny-sd" / "unet" / "diffusion_pytorch_model.safetensors").string();
        msg = error_of<ModelLoadError>([&] { DpoTrainer t(model, unet, tmp / "run"); });
        QVERIFY2(msg.contains("diffusion_pytorch_model.safetensors: not a PSA adapter"), qPrintable(msg));
        auto missing = c;
        missing.init_adapter = (tmp / "none.safetensors").string();
        msg = error_of<IoError>([&] { DpoTrainer t(model, missing, tmp / "run"); });
        QVERIFY2(msg.contains("none.safetensors"), qPrintable(msg));
        QVERIFY(!fs::exists(tmp / "run")); // nothing was started
    }

    // The per-category layout (adapter/token_layout.h): one token per category, each reading only
    // that category's ban, stored in the reference's keys and recorded in the file's metadata.
    void per_category_tokens_read_only_their_ban()
    {
        test::TempDir tmp;
        auto model = tiny_model();
        JobControl job;
        const auto c = per_category_config(tmp / "data");
        DpoTrainer trainer(model, c, tmp / "run");
        const auto count = static_cast<int64_t>(trainer.dataset().categories().size());
        QVERIFY(count >= 2);
        QCOMPARE(trainer.train(job).outcome, Outcome::Completed);
        const auto file = tmp / "run" / "adapter.safetensors";
        const auto info = read_adapter_file_info(file);
        QCOMPARE(info.num_tokens, count); // c.num_tokens (1) is not read
        QCOMPARE(info.token_layout, std::string(kPerCategoryTokens));

        // Outside one column per token the weight stayed exactly zero through training; every
        // token keeps a non-zero column of its own.
        const auto tensors = read_tensors(file);
        const auto& w = tensors.at("user_proj.proj.weight");
        const auto mask = per_category_projection_mask(count, count, info.cross_attention_dim, info.user_dim);
        QCOMPARE(w.sizes().vec(), mask.sizes().vec());
        QCOMPARE((w * (1 - mask)).abs().max().item<double>(), 0.0);
        QVERIFY((w * mask).abs().sum(1).gt(0).all().item<bool>());
        QVERIFY(tensors.at("psa_adapter.0.to_v_user.0.weight").abs().max().item<double>() > 0);

        // Flipping one category's ban changes that category's token and no other.
        auto adapter = load_adapter(file, model->unet->cross_attention_layers());
        torch::NoGradGuard no_grad;
        const auto none = torch::zeros({1, info.user_dim});
        const auto before = adapter->user_tokens(none);
        for (int64_t k = 0; k < count; ++k) {
            auto banned = none.clone();
            banned[0][k] = 1.0;
            const auto changed = (adapter->user_tokens(banned) - before).abs().amax({0, 2}); // per token
            for (int64_t t = 0; t < count; ++t)
                QVERIFY2((changed[t].item<double>() > 0) == (t == k),
                         qPrintable(QString("ban %1 moved token %2 by %3").arg(k).arg(t).arg(changed[t].item<double>())));
        }

        // A dense file cannot start a per-category run (nor the other way round), and the layout
        // needs the structured encoder's ban strengths.
        auto dense = c;
        dense.token_layout = kDenseTokens;
        dense.num_tokens = static_cast<int>(count);
        dense.init_adapter = file.string();
        auto msg = error_of<ConfigError>([&] { DpoTrainer t(model, dense, tmp / "dense"); });
        QVERIFY2(msg.contains("per-category user tokens, the run asks for dense"), qPrintable(msg));
        auto precomputed = c;
        precomputed.profile_encoder = "precomputed";
        precomputed.embeds_dir = (tmp / "embeds").string();
        msg = error_of<InvalidRequest>([&] { precomputed.validate(); });
        QVERIFY2(msg.contains("token_layout") && msg.contains("structured"), qPrintable(msg));
        auto unknown = c;
        unknown.token_layout = "sparse";
        msg = error_of<InvalidRequest>([&] { unknown.validate(); });
        QVERIFY2(msg.contains("token_layout") && msg.contains("sparse"), qPrintable(msg));
        QCOMPARE(TrainConfig::from_json(c.to_json(), "test").token_layout, std::string(kPerCategoryTokens));
        UserProjection narrow(3, 2, 8);
        msg = error_of<ConfigError>([&] { confine_to_per_category_tokens(*narrow, 7); });
        QVERIFY2(msg.contains("2 tokens") && msg.contains("7 categories"), qPrintable(msg));
    }

    // A run with ban-gated tokens trains them (its file says so, and a user who bans nothing
    // gets only zero tokens); a gated file starts only a gated run, and a dense run cannot be
    // gated.
    void ban_gated_tokens_train_and_are_kept_by_their_file()
    {
        test::TempDir tmp;
        auto model = tiny_model();
        JobControl job;
        auto c = per_category_config(tmp / "data");
        c.ban_gated_tokens = true;
        QVERIFY(TrainConfig::from_json(c.to_json(), "test").ban_gated_tokens);
        DpoTrainer trainer(model, c, tmp / "run");
        QCOMPARE(trainer.train(job).outcome, Outcome::Completed);
        const auto file = tmp / "run" / "adapter.safetensors";
        QVERIFY(read_adapter_file_info(file).ban_gated_tokens);
        auto adapter = load_adapter(file, model->unet->cross_attention_layers());
        torch::NoGradGuard no_grad;
        const auto none = torch::zeros({1, adapter->config().user_dim});
        QCOMPARE(adapter->user_tokens(none).abs().max().item<double>(), 0.0);
        auto banned = none.clone();
        banned[0][0] = 1.0;
        QVERIFY(adapter->user_tokens(banned)[0][0].abs().max().item<double>() > 0);
        QVERIFY(
            read_tensors(file).at("psa_adapter.0.to_v_user.0.weight").abs().max().item<double>() >
            0);

        auto ungated = c;
        ungated.ban_gated_tokens = false;
        ungated.init_adapter = file.string();
        const auto msg =
            error_of<ConfigError>([&] { DpoTrainer t(model, ungated, tmp / "ungated"); });
        QVERIFY2(msg.contains("gated by the bans"), qPrintable(msg));
        auto dense = c;
        dense.token_layout = kDenseTokens;
        QVERIFY(error_of<InvalidRequest>([&] { dense.validate(); }).contains("ban_gated_tokens"));
    }

    // The caption start: the tokens of a per-category run start at its captions' mean text
    // embedding (only Violence has captions here, so every token starts there), the user key maps
    // at the UNet's text key maps, and the value maps at zero, so the start changes nothing.
    void tokens_start_at_captions()
    {
        test::TempDir tmp;
        auto model = tiny_model();
        auto c = caption_started_config(tmp / "data");
        DpoTrainer trainer(model, c, tmp / "run");
        trainer.save_adapter(tmp / "start.safetensors");
        const auto count = static_cast<int64_t>(trainer.dataset().categories().size());
        const auto layers = model->unet->cross_attention_layers();
        torch::NoGradGuard no_grad;
        const auto text = caption_mean(*model);
        const auto start = read_tensors(tmp / "start.safetensors");
        const auto bias = start.at("user_proj.proj.bias").reshape({count, -1});
        auto adapter = load_adapter(tmp / "start.safetensors", layers);
        const auto tokens = adapter->user_tokens(torch::zeros({1, trainer.dataset().user_dim()}))[0];
        for (int64_t k = 0; k < count; ++k) {
            QVERIFY(test::max_abs_diff(bias[k], text) < 1e-5);
            QVERIFY(test::max_abs_diff(tokens[k], text) < 1e-4);
        }
        const auto params = model->unet->named_parameters(true);
        for (size_t l = 0; l < layers.size(); ++l) {
            const auto prefix = "psa_adapter." + std::to_string(l);
            QVERIFY(torch::equal(start.at(prefix + ".to_k_user.0.weight"), params[layers[l].name + ".to_k.weight"]));
            QCOMPARE(start.at(prefix + ".to_v_user.0.weight").abs().max().item<double>(), 0.0);
        }

        auto dense = c;
        dense.token_layout = kDenseTokens;
        auto msg = error_of<InvalidRequest>([&] { dense.validate(); });
        QVERIFY2(msg.contains("token_start") && msg.contains("per-category"), qPrintable(msg));
        auto from_file = c;
        from_file.init_adapter = (tmp / "start.safetensors").string();
        msg = error_of<InvalidRequest>([&] { from_file.validate(); });
        QVERIFY2(msg.contains("token_start") && msg.contains("init_adapter"), qPrintable(msg));
        auto unknown = c;
        unknown.token_start = "text";
        msg = error_of<InvalidRequest>([&] { unknown.validate(); });
        QVERIFY2(msg.contains("token_start") && msg.contains("\"text\""), qPrintable(msg));
        QCOMPARE(TrainConfig::from_json(c.to_json(), "test").token_start, std::string(kTokensStartAtCaptions));
    }

    // The sink token (TrainConfig::sink_token): one more per-category token that reads no ban, so
    // it is the same for every user; it starts at what the categories' captions share.
    void sink_token_reads_no_ban()
    {
        test::TempDir tmp;
        auto model = tiny_model();
        auto c = caption_started_config(tmp / "data");
        c.sink_token = true;
        c.routing_weight = 1; // with the sink, its term also covers the cells where the pair agrees
        DpoTrainer trainer(model, c, tmp / "run");
        trainer.save_adapter(tmp / "start.safetensors");
        const auto count = static_cast<int64_t>(trainer.dataset().categories().size());
        JobControl job;
        QCOMPARE(trainer.train(job).outcome, Outcome::Completed);
        for (const auto& step : step_log(tmp / "run")) // two cross-entropies, each at least 0
            QVERIFY(std::isfinite(step.at("routing").get<double>()) && step.at("routing").get<double>() > 0);
        const auto file = tmp / "run" / "adapter.safetensors";
        const auto info = read_adapter_file_info(file);
        QCOMPARE(info.num_tokens, count + 1);
        QVERIFY(info.has_sink_token());

        // The sink's rows of the projection read no column, before and after training.
        const auto tensors = read_tensors(file);
        const auto& w = tensors.at("user_proj.proj.weight");
        const auto mask = per_category_projection_mask(count, count + 1, info.cross_attention_dim, info.user_dim);
        QCOMPARE(w.sizes().vec(), mask.sizes().vec());
        QCOMPARE((w * (1 - mask)).abs().max().item<double>(), 0.0);
        QCOMPARE(mask.slice(0, count * info.cross_attention_dim).abs().max().item<double>(), 0.0);
        QVERIFY((w * mask).slice(0, 0, count * info.cross_attention_dim).abs().sum(1).gt(0).all().item<bool>());

        // It starts where the captions do (only Violence has captions here, so that is their mean).
        torch::NoGradGuard no_grad;
        const auto text = caption_mean(*model);
        const auto start_bias = read_tensors(tmp / "start.safetensors").at("user_proj.proj.bias").reshape({count + 1, -1});
        QVERIFY(test::max_abs_diff(start_bias[count], text) < 1e-5);

        // No ban moves it; each ban still moves its own category's token.
        auto adapter = load_adapter(file, model->unet->cross_attention_layers());
        const auto none = torch::zeros({1, info.user_dim});
        const auto before = adapter->user_tokens(none);
        QCOMPARE(before.size(1), count + 1);
        for (int64_t k = 0; k < count; ++k) {
            auto banned = none.clone();
            banned[0][k] = 1.0;
            const auto changed = (adapter->user_tokens(banned) - before).abs().amax({0, 2});
            QCOMPARE(changed[count].item<double>(), 0.0);
            QVERIFY(changed[k].item<double>() > 0);
        }

        // Only the per-category layout has one; the flag survives the config file; a file with a
        // sink cannot start a run without one.
        auto dense = small_config(tmp / "data");
        dense.sink_token = true;
        auto msg = error_of<InvalidRequest>([&] { dense.validate(); });
        QVERIFY2(msg.contains("sink_token") && msg.contains("per-category"), qPrintable(msg));
        QVERIFY(TrainConfig::from_json(c.to_json(), "test").sink_token);
        QVERIFY(!TrainConfig::from_json(small_config(tmp / "data").to_json(), "test").sink_token);
        auto without = small_config(tmp / "data");
        without.token_layout = kPerCategoryTokens;
        without.init_adapter = file.string();
        msg = error_of<ConfigError>([&] { DpoTrainer t(model, without, tmp / "without"); });
        QVERIFY2(msg.contains(QString::fromStdString(file.filename().string())) && msg.contains("sink_token"),
                 qPrintable(msg));
        UserProjection with_sink(7, 8, 4);
        with_sink->proj->weight.requires_grad_(true);
        confine_to_per_category_tokens(*with_sink, 7);
        UserProjection two_more(7, 9, 4);
        msg = error_of<ConfigError>([&] { confine_to_per_category_tokens(*two_more, 7); });
        QVERIFY2(msg.contains("9 tokens") && msg.contains("sink"), qPrintable(msg));
    }

    // Frozen user keys stay at the caption start through training while the value maps and the
    // tokens learn; the random start (zero keys) cannot be frozen.
    void frozen_user_keys_keep_their_start()
    {
        test::TempDir tmp;
        auto c = caption_started_config(tmp / "data");
        c.freeze_user_keys = true;
        c.checkpoint_every = 3; // the checkpoint and its resume must cope with the missing moments
        DpoTrainer trainer(tiny_model(), c, tmp / "run");
        trainer.save_adapter(tmp / "start.safetensors");
        JobControl job;
        QCOMPARE(trainer.train(job).outcome, Outcome::Completed);
        trainer.save_adapter(tmp / "end.safetensors");
        const auto start = read_tensors(tmp / "start.safetensors"), end = read_tensors(tmp / "end.safetensors");
        int keys = 0, values_moved = 0;
        for (const auto& [name, t] : start) {
            if (name.find(".to_k_user.") != std::string::npos) {
                ++keys;
                QVERIFY2(torch::equal(t, end.at(name)), name.c_str());
            } else if (name.find(".to_v_user.") != std::string::npos) {
                values_moved += torch::equal(t, end.at(name)) ? 0 : 1;
            }
        }
        QVERIFY(keys > 0);
        QVERIFY(values_moved > 0);
        QVERIFY(!torch::equal(start.at("user_proj.proj.bias"), end.at("user_proj.proj.bias")));
        QVERIFY(TrainConfig::from_json(c.to_json(), "test").freeze_user_keys);

        auto resumed = c;
        resumed.steps = 8;
        DpoTrainer again(tiny_model(), resumed, tmp / "run");
        QVERIFY(again.resume());
        QCOMPARE(again.train(job).outcome, Outcome::Completed);

        auto random_start = c;
        random_start.token_start = kTokensStartRandom;
        const auto msg = error_of<InvalidRequest>([&] { random_start.validate(); });
        QVERIFY2(msg.contains("freeze_user_keys") && msg.contains("zero"), qPrintable(msg));
    }

    // The own user query maps start at the UNet's text query maps (so the new adapter routes as
    // the reference's does), train with the rest, survive a checkpoint, and decide a later run
    // that starts from the file.
    void own_user_query_starts_at_the_text_query()
    {
        test::TempDir tmp;
        write_pair_set(tmp / "data", 1);
        auto model = tiny_model();
        auto c = small_config(tmp / "data");
        c.num_tokens = 2;
        c.steps = 4;
        c.checkpoint_every = 2;
        c.own_user_query = true;
        QVERIFY(TrainConfig::from_json(c.to_json(), "test").own_user_query);
        DpoTrainer trainer(model, c, tmp / "run");
        trainer.save_adapter(tmp / "start.safetensors");
        JobControl job;
        QCOMPARE(trainer.train(job).outcome, Outcome::Completed);
        const auto start = read_tensors(tmp / "start.safetensors");
        const auto end = read_tensors(tmp / "run" / "adapter.safetensors");
        const auto unet = model->unet->named_parameters(true);
        const auto layers = model->unet->cross_attention_layers();
        int moved = 0;
        for (size_t i = 0; i < layers.size(); ++i) {
            const auto key = "psa_adapter." + std::to_string(i) + ".to_q_user.0.weight";
            QVERIFY2(start.count(key) != 0, key.c_str());
            QVERIFY2(torch::equal(start.at(key), unet[layers[i].name + ".to_q.weight"]), key.c_str());
            moved += torch::equal(start.at(key), end.at(key)) ? 0 : 1;
        }
        QVERIFY(moved > 0);

        auto resumed = c;
        resumed.steps = 6;
        DpoTrainer again(model, resumed, tmp / "run");
        QVERIFY(again.resume());
        QCOMPARE(again.train(job).outcome, Outcome::Completed);

        auto without = c;
        without.own_user_query = false;
        without.init_adapter = (tmp / "run" / "adapter.safetensors").string();
        const auto msg = error_of<ConfigError>([&] { DpoTrainer t(model, without, tmp / "run2"); });
        QVERIFY2(msg.contains("user query maps of its own") && msg.contains("own_user_query"), qPrintable(msg));
        auto with = without;
        with.own_user_query = true;
        DpoTrainer continued(model, with, tmp / "run3");
        continued.save_adapter(tmp / "continued.safetensors");
        const auto first = "psa_adapter.0.to_q_user.0.weight";
        QVERIFY(torch::equal(read_tensors(tmp / "continued.safetensors").at(first), read_tensors(tmp / "run" / "adapter.safetensors").at(first)));
    }

    // It groups the captions by each pair's category, so it needs them, and it trains another
    // adapter than the random start.
    void caption_start_needs_each_pairs_category()
    {
        TrainConfig captions;
        captions.token_layout = kPerCategoryTokens;
        captions.token_start = kTokensStartAtCaptions;
        auto random = captions;
        random.token_start = kTokensStartRandom;
        check_term_that_reads_categories(captions, random);
    }

    void sample_images_and_log_are_written()
    {
        test::TempDir tmp;
        write_pair_set(tmp / "data", 1);
        auto model = tiny_model();
        auto c = small_config(tmp / "data");
        c.steps = 2;
        c.sample_every = 2;
        c.sample_steps = 3;
        c.sample_seeds = {2025, 7};
        DpoTrainer t(model, c, tmp / "run");
        JobControl job;
        QCOMPARE(t.train(job).outcome, Outcome::Completed);
        const auto folder = tmp / "run" / "samples" / "step-00000002";
        int pngs = 0;
        for (const auto& e : fs::directory_iterator(folder))
            pngs += e.path().extension() == ".png";
        QCOMPARE(pngs, 2 * (1 + 2)); // 2 seeds x (plain + 2 users)
        QVERIFY(fs::is_regular_file(folder / "p0-seed2025-plain.png"));
        QVERIFY(fs::is_regular_file(folder / "p0-seed2025-user-0000901.png"));
        int lines = 0;
        for (const auto& step : step_log(tmp / "run"))
            lines += step.contains("loss");
        QCOMPARE(lines, 2);
        const auto stored = DpoTrainer::stored_config(tmp / "run");
        QCOMPARE(stored.to_json(), c.to_json());
    }

    // ---- configuration ----

    void config_round_trips_and_validates()
    {
        TrainConfig c;
        c.steps = 17;
        c.lr = 3e-4;
        c.sample_prompts = {"a", "b"};
        c.sample_seeds = {1, 2, 3};
        c.seed = 1ull << 40;
        c.init_adapter = "/adapters/demo/adapter.safetensors";
        const auto back = TrainConfig::from_json(c.to_json(), "test");
        QCOMPARE(back.to_json(), c.to_json());
        QCOMPARE(back.seed, c.seed);
        QCOMPARE(back.init_adapter, c.init_adapter);
        QVERIFY(error_of<ConfigError>([] { TrainConfig::from_json("{\"steps\": \"many\"}", "x.json"); })
                    .contains("steps"));
        auto bad = c;
        bad.caption_dropout = 2;
        QVERIFY(error_of<InvalidRequest>([&] { bad.validate(); }).contains("caption_dropout"));
        QCOMPARE(learning_rate_at(c, 0), c.lr / c.warmup_steps);
        QCOMPARE(learning_rate_at(c, c.warmup_steps + 5), c.lr);
        auto decaying = c;
        decaying.steps = 100;
        decaying.warmup_steps = 10;
        decaying.lr_decay_from = 60;
        decaying.validate();
        QCOMPARE(learning_rate_at(decaying, 60), c.lr);
        QVERIFY(std::abs(learning_rate_at(decaying, 80) - c.lr / 2) < 1e-12); // half way down the cosine
        QVERIFY(learning_rate_at(decaying, 99) > 0.0 && learning_rate_at(decaying, 99) < c.lr / 100);
        QCOMPARE(TrainConfig::from_json(decaying.to_json(), "test").lr_decay_from, 60);
        decaying.lr_decay_from = 100;
        QVERIFY(error_of<InvalidRequest>([&] { decaying.validate(); }).contains("lr_decay_from"));
    }

    // ---- the checkpoint-folder helpers that pretraining shares ----

    void checkpoint_folders_are_named_found_and_pruned()
    {
        test::TempDir tmp;
        const auto dir = tmp / "checkpoints";
        QCOMPARE(checkpoint_folder_name(42), std::string("step-00000042"));
        QCOMPARE(checkpoint_folder_step("step-00000042"), 42);
        QCOMPARE(checkpoint_folder_step("step-"), -1);
        QCOMPARE(checkpoint_folder_step("step-12a"), -1);
        QCOMPARE(checkpoint_folder_step(".tmp-step-00000003-77"), -1);
        QVERIFY(!latest_complete_checkpoint(dir)); // no folder at all

        for (const int step : {1, 2, 3}) {
            const auto t = begin_checkpoint_folder(dir, step);
            QVERIFY(t.filename().string().rfind(".tmp-", 0) == 0);
            test::write_bytes(t / "state.json", "{}");
            publish_checkpoint_folder(t, dir / checkpoint_folder_name(step));
        }
        std::filesystem::create_directories(dir / checkpoint_folder_name(9)); // incomplete: no state.json
        const auto unfinished = begin_checkpoint_folder(dir, 4);
        QCOMPARE(latest_complete_checkpoint(dir)->filename().string(), std::string("step-00000003"));

        remove_unfinished_checkpoint_folders(dir);
        QVERIFY(!std::filesystem::exists(unfinished));
        prune_checkpoints(dir, 2); // the incomplete step 9 counts as newest, so only step 3 stays
        QVERIFY(!std::filesystem::exists(dir / "step-00000001"));
        QVERIFY(!std::filesystem::exists(dir / "step-00000002"));
        QVERIFY(std::filesystem::exists(dir / "step-00000003" / "state.json"));
        QVERIFY(std::filesystem::exists(dir / "step-00000009"));

        test::write_bytes(dir / "step-00000003" / "state.json", "{not json");
        QVERIFY(error_of<ConfigError>([&] { read_checkpoint_state(dir / "step-00000003" / "state.json"); })
                    .contains("step-00000003"));
    }

    void trajectory_difference_names_each_changed_setting()
    {
        const auto a = trajectory_settings(R"({"lr": 1, "seed": 2, "steps": 5})", {"steps"});
        const auto b = trajectory_settings(R"({"lr": 1, "seed": 3, "steps": 9})", {"steps"});
        QVERIFY(!a.contains("steps"));
        QCOMPARE(trajectory_difference(a, a), std::string());
        QCOMPARE(trajectory_difference(a, b), std::string("\n  seed: checkpoint 2, now 3"));
    }

    void step_log_is_cut_back_to_the_resumed_step()
    {
        test::TempDir tmp;
        const auto log = tmp / "train_log.jsonl";
        const auto lines = [&] {
            std::ifstream in(log);
            std::string all, line;
            while (std::getline(in, line))
                all += line + "|";
            return all;
        };
        truncate_step_log(log, 3); // no log yet: nothing to do
        QVERIFY(!fs::exists(log));
        test::write_bytes(log, "{\"step\": 1, \"stage\": \"vae\"}\n{\"step\": 2, \"stage\": \"unet\"}\n"
                               "{\"step\": 5, \"stage\": \"vae\"}\nnot a step line\n{\"step\": 4, \"stage\": \"unet\"}\n");
        truncate_step_log(log, 2, [](const std::string& line) { return line.find("\"unet\"") != std::string::npos; });
        QCOMPARE(lines(), std::string(R"({"step": 1, "stage": "vae"}|{"step": 2, "stage": "unet"}|{"step": 5, "stage": "vae"}|)"));
        truncate_step_log(log, 1);
        QCOMPARE(lines(), std::string(R"({"step": 1, "stage": "vae"}|)"));

        std::mt19937 rng(3);
        rng.discard(5);
        std::mt19937 back;
        restore_mt19937(back, mt19937_text(rng), "state.json");
        QVERIFY(back == rng);
        QVERIFY(error_of<ConfigError>([&] { restore_mt19937(back, "12 x", "state.json"); }).contains("state.json"));
    }

    void shuffled_order_visits_every_index_once_per_pass()
    {
        std::mt19937 rng(7), same(7);
        std::vector<int64_t> order, order2;
        size_t pos = 0, pos2 = 0;
        for (int pass = 0; pass < 2; ++pass) {
            std::vector<int64_t> seen;
            for (int i = 0; i < 10; ++i) {
                seen.push_back(next_shuffled_index(rng, order, pos, 10));
                QCOMPARE(next_shuffled_index(same, order2, pos2, 10), seen.back()); // replays exactly
            }
            std::sort(seen.begin(), seen.end());
            for (int64_t i = 0; i < 10; ++i)
                QCOMPARE(seen[static_cast<size_t>(i)], i);
        }
        for (int i = 0; i < 1000; ++i) {
            const double u = uniform01(rng);
            QVERIFY(u >= 0.0 && u < 1.0);
        }
    }

    // ---- dataset validation ----

    void missing_image_is_counted_and_skipped()
    {
        test::TempDir tmp;
        write_split(tmp / "s",
                    {pair_line("a.png", "b.png"), pair_line("a.png", "gone.png"), pair_line("b.png", "a.png")},
                    {"a.png", "b.png"});
        const auto d = PreferenceDataset::load(tmp / "s");
        QCOMPARE(static_cast<int>(d.size()), 2);
        QCOMPARE(d.report().skipped_missing, 1);
        QCOMPARE(d.report().lines, 3);
        QCOMPARE(d.pair(1).line, 3);
        PreferenceDatasetOptions strict;
        strict.strict = true;
        const auto msg = error_of<IoError>([&] { PreferenceDataset::load(tmp / "s", strict); });
        QVERIFY2(msg.contains("line 2") && msg.contains("gone.png") && msg.contains("metadata.jsonl"), qPrintable(msg));
    }

    void unsafe_paths_are_refused_data()
    {
        QTest::addColumn<QString>("path");
        QTest::newRow("parent") << "../outside.png";
        QTest::newRow("nested parent") << "images/../../outside.png";
        QTest::newRow("absolute") << "/etc/passwd";
    }
    void unsafe_paths_are_refused()
    {
        QFETCH(QString, path);
        test::TempDir tmp;
        write_split(tmp / "s", {pair_line("a.png", "b.png"), pair_line("a.png", path.toStdString())}, {"a.png", "b.png"});
        const auto msg = error_of<ConfigError>([&] { PreferenceDataset::load(tmp / "s"); });
        QVERIFY2(msg.contains("line 2") && msg.contains(path), qPrintable(msg));
    }

    void malformed_lines_are_reported_with_line_numbers()
    {
        test::TempDir tmp;
        write_split(tmp / "s",
                    {pair_line("a.png", "b.png"), "{\"chosen\": \"a.png\", ", pair_line("a.png", "b.png"),
                     json{{"chosen", "a.png"}, {"caption", "x"}, {"user_data", user_data("1", 3)}}.dump(), "",
                     "[1, 2]"},
                    {"a.png", "b.png"});
        const auto msg = error_of<ConfigError>([&] { PreferenceDataset::load(tmp / "s"); });
        qInfo("%s", qPrintable(msg));
        QVERIFY(msg.contains("metadata.jsonl"));
        QVERIFY(msg.contains("3 malformed lines"));
        QVERIFY(msg.contains("line 2: malformed JSON"));
        QVERIFY(msg.contains("line 4: missing \"rejected\""));
        QVERIFY(msg.contains("line 6:"));
        QVERIFY(!msg.contains("line 3"));
    }

    void empty_dataset_is_an_error()
    {
        test::TempDir tmp;
        write_split(tmp / "empty", {}, {});
        QVERIFY(error_of<ConfigError>([&] { PreferenceDataset::load(tmp / "empty"); }).contains("no usable"));
        write_split(tmp / "all-missing", {pair_line("x.png", "y.png")}, {});
        const auto msg = error_of<ConfigError>([&] { PreferenceDataset::load(tmp / "all-missing"); });
        QVERIFY2(msg.contains("no usable") && msg.contains("1 skipped"), qPrintable(msg));
        QVERIFY(error_of<IoError>([&] { PreferenceDataset::load(tmp / "nowhere"); }).contains("nowhere"));
    }

    void bans_come_from_data_or_rules()
    {
        test::TempDir tmp;
        auto explicit_ud = user_data("0000002", 20, "Christianity");
        explicit_ud["Banned_Categories"] = "['Propaganda', 'Self-Harm']";
        auto list_ud = user_data("0000003", 40);
        list_ud["Banned_Categories"] = json::array({"Hate"});
        write_split(tmp / "s",
                    {pair_line("a.png", "b.png", user_data("0000001", 10)), pair_line("a.png", "b.png", explicit_ud),
                     pair_line("b.png", "a.png", list_ud)},
                    {"a.png", "b.png"});
        const auto d = PreferenceDataset::load(tmp / "s");
        QCOMPARE(static_cast<int>(d.users().size()), 3);
        const auto& child = d.user("0000001").profile;
        QVERIFY(child.is_banned("Violence") && child.is_banned("Sexuality") && !child.is_banned("Hate"));
        const auto& given = d.user("0000002").profile;
        auto banned = given.banned_categories();
        std::sort(banned.begin(), banned.end());
        QCOMPARE(banned, (std::vector<std::string>{"Propaganda", "Self-Harm"})); // not the rules' Hate
        QCOMPARE(d.user("0000003").profile.banned_categories(), std::vector<std::string>{"Hate"});
        QCOMPARE(static_cast<int>(d.user("0000001").embedding.size()), d.user_dim());
        auto bad = user_data("0000004", 30);
        bad["Banned_Categories"] = json::array({"Nonsense"});
        write_split(tmp / "t", {pair_line("a.png", "b.png", bad)}, {"a.png", "b.png"});
        QVERIFY(error_of<ConfigError>([&] { PreferenceDataset::load(tmp / "t"); }).contains("Nonsense"));
    }

    void pair_category_says_whether_its_user_bans_it()
    {
        test::TempDir tmp;
        auto line = [](const std::string& category, const json& ud) {
            auto j = json::parse(pair_line("a.png", "b.png", ud));
            if (!category.empty())
                j["category"] = category;
            return j.dump();
        };
        write_split(tmp / "s",
                    {line("Violence", user_data("0000001", 10)), line("Violence", user_data("0000002", 40)),
                     line("", user_data("0000002", 40)), line("Gore", user_data("0000002", 40))},
                    {"a.png", "b.png"});
        const auto d = PreferenceDataset::load(tmp / "s");
        QCOMPARE(d.pair(0).user_bans_category, std::optional<bool>(true)); // a child: the rules ban Violence
        QCOMPARE(d.pair(1).user_bans_category, std::optional<bool>(false));
        QVERIFY(!d.pair(2).user_bans_category);                           // no category on the line
        QCOMPARE(d.pair(3).category, std::string("Gore"));
        QVERIFY(!d.pair(3).user_bans_category);                           // not a category of the set
        QCOMPARE(std::count_if(d.pairs().begin(), d.pairs().end(),
                               [](const PreferencePair& p) { return !p.user_bans_category; }),
                 std::ptrdiff_t{2});
    }

    void embeddings_folder_supplies_user_condition()
    {
        test::TempDir tmp;
        write_split(tmp / "s", {pair_line("a.png", "b.png"), pair_line("b.png", "a.png", user_data("0000002", 20))},
                    {"a.png", "b.png"});
        fs::create_directories(tmp / "e");
        const auto npy = [&](const std::string& id, std::vector<float> v) {
            std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + std::to_string(v.size()) + ",), }";
            while ((10 + header.size() + 1) % 64)
                header += ' ';
            header += '\n';
            std::string bytes = "\x93NUMPY\x01";
            bytes += '\0';
            bytes += static_cast<char>(header.size());
            bytes += '\0';
            bytes += header;
            bytes.append(reinterpret_cast<const char*>(v.data()), v.size() * 4);
            test::write_bytes(tmp / "e" / (id + ".npy"), bytes);
        };
        npy("0000001", {1, 2, 3, 4, 5});
        PreferenceDatasetOptions o;
        o.embeds_dir = tmp / "e";
        QVERIFY(error_of<IoError>([&] { PreferenceDataset::load(tmp / "s", o); }).contains("0000002.npy"));
        npy("0000002", {5, 4, 3, 2, 1});
        const auto d = PreferenceDataset::load(tmp / "s", o);
        QCOMPARE(d.user_dim(), 5);
        QCOMPARE(d.profile_encoder(), std::string("precomputed"));
        QCOMPARE(d.user("0000002").embedding, (std::vector<float>{5, 4, 3, 2, 1}));
    }
};

QTEST_APPLESS_MAIN(TestTraining)
#include "test_training.moc"
