// SPDX-License-Identifier: GPL-3.0-or-later
// Schedulers against diffusers v0.30.3 (fixtures README section 5): every run listed in
// expected/schedulers.json is rebuilt from tiny-sd's scheduler_config.json plus the run's overrides
// and replayed with the fixed model f(x_in, t) = 0.9 tanh(x_in) + 0.1 cos(0.01 t). Tolerances from
// the README: timesteps exact, sigmas rel 1e-6, trajectories 1e-4 * max(1, max|x|).
#include "common/atomic_file.h"
#include "common/error.h"
#include "schedulers/scheduler.h"
#include "schedulers/scheduler_config.h"
#include "support/test_support.h"
#include "tensor_io/safetensors.h"

#include <QtTest>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <cmath>
#include <optional>
#include <sstream>

using namespace psa;
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

constexpr double kTrajectoryTol = 1e-4; // x max(1, max|x|)
constexpr double kSigmaRelTol = 1e-6;

fs::path schedulers_json()
{
    return test::fixtures_dir() / "expected" / "schedulers.json";
}
fs::path schedulers_tensors()
{
    return test::fixtures_dir() / "expected" / "schedulers.safetensors";
}
fs::path source_config()
{
    return test::fixtures_dir() / "tiny-sd" / "scheduler" / "scheduler_config.json";
}

// Python's json writes -Infinity/NaN as bare tokens; the test only needs to skip over them.
json parse_python_json(const fs::path& path)
{
    std::string text = read_file_text(path);
    for (const std::string token : {"-Infinity", "Infinity", "NaN"}) {
        for (size_t at = text.find(token); at != std::string::npos; at = text.find(token, at))
            text.replace(at, token.size(), "null");
    }
    return json::parse(text);
}

// The run's class as diffusers names it -> our scheduler name.
std::string scheduler_name_for(const std::string& cls, const SchedulerConfig& config)
{
    if (cls == "DDIMScheduler")
        return "ddim";
    if (cls == "PNDMScheduler")
        return "pndm";
    if (cls == "EulerDiscreteScheduler")
        return "euler";
    if (cls == "EulerAncestralDiscreteScheduler")
        return "euler-a";
    if (cls == "DPMSolverMultistepScheduler")
        return config.use_karras_sigmas ? "dpmpp-2m-karras" : "dpmpp-2m";
    return {};
}

// Cls.from_config(<source config>, **overrides), the way the fixtures were made.
SchedulerConfig config_with_overrides(const json& overrides)
{
    json merged = json::parse(read_file_text(source_config()));
    for (const auto& [key, value] : overrides.items())
        merged[key] = value;
    return SchedulerConfig::from_json_text(merged.dump(),
                                           source_config().string() + " + overrides");
}

// The fixtures' deterministic stand-in for a UNet.
at::Tensor reference_model(const at::Tensor& x_in, double t)
{
    const auto offset = static_cast<float>(0.1 * std::cos(0.01 * t));
    return torch::tanh(x_in) * 0.9 + static_cast<double>(offset);
}

struct Trajectory {
    at::Tensor x_in, model_output, x, pred_original_sample; // stacked over calls
};

// The README's protocol; `step_noise` [calls, ...] feeds schedulers that need noise.
Trajectory run_trajectory(Scheduler& s, int steps, const at::Tensor& noise0,
                          const at::Tensor& step_noise = {})
{
    s.set_timesteps(steps);
    auto x = noise0 * s.init_noise_sigma();
    std::vector<at::Tensor> xs{x}, x_ins, outputs, preds;
    for (int i = 0; i < s.num_model_calls(); ++i) {
        const auto x_in = s.scale_model_input(x, i);
        const auto output = reference_model(x_in, s.timestep(i));
        const auto r = s.step(output, i, x, s.needs_noise() ? step_noise[i] : at::Tensor());
        x = r.prev_sample;
        xs.push_back(x);
        x_ins.push_back(x_in);
        outputs.push_back(output);
        if (r.pred_original_sample.defined())
            preds.push_back(r.pred_original_sample);
    }
    Trajectory t;
    t.x = torch::stack(xs);
    t.x_in = torch::stack(x_ins);
    t.model_output = torch::stack(outputs);
    if (!preds.empty() && preds.size() == outputs.size())
        t.pred_original_sample = torch::stack(preds);
    return t;
}

double max_abs_diff(const at::Tensor& a, const at::Tensor& b)
{
    return (a.to(torch::kFloat64) - b.to(torch::kFloat64)).abs().max().item<double>();
}

std::string shape_of(const at::Tensor& t)
{
    std::ostringstream s;
    s << t.sizes();
    return s.str();
}

SchedulerConfig sd15_with(const std::string& key, const json& value)
{
    json j = {{"_class_name", "PNDMScheduler"},
              {"beta_end", 0.012},
              {"beta_schedule", "scaled_linear"},
              {"beta_start", 0.00085},
              {"clip_sample", false},
              {"num_train_timesteps", 1000},
              {"set_alpha_to_one", false},
              {"skip_prk_steps", true},
              {"steps_offset", 1}};
    if (!key.empty())
        j[key] = value;
    return SchedulerConfig::from_json_text(j.dump(), "test config");
}

} // namespace

class TestSchedulers : public QObject {
    Q_OBJECT

    json reference_;
    std::optional<SafetensorsFile> tensors_;

private Q_SLOTS:
    void initTestCase()
    {
        if (!fs::exists(schedulers_json()) || !fs::exists(schedulers_tensors()) ||
            !fs::exists(source_config()))
            QFAIL(qPrintable(QString("scheduler fixtures missing under %1 (set PSA_FIXTURES)")
                                 .arg(QString::fromStdString(test::fixtures_dir().string()))));
        reference_ = parse_python_json(schedulers_json());
        tensors_.emplace(SafetensorsFile::open(schedulers_tensors()));
        QVERIFY(reference_.contains("runs") && !reference_["runs"].empty());
    }

    // ---- configuration ----

    void sd15_factory_equals_the_sd15_file()
    {
        const auto file = SchedulerConfig::from_json(source_config());
        const auto sd15 = SchedulerConfig::sd15();
        QCOMPARE(file.class_name, sd15.class_name);
        QCOMPARE(file.num_train_timesteps, sd15.num_train_timesteps);
        QCOMPARE(file.beta_start, sd15.beta_start);
        QCOMPARE(file.beta_end, sd15.beta_end);
        QCOMPARE(file.beta_schedule, sd15.beta_schedule);
        QCOMPARE(file.steps_offset, sd15.steps_offset);
        QVERIFY(file.set_alpha_to_one == sd15.set_alpha_to_one);
        QVERIFY(file.clip_sample == sd15.clip_sample);
        QCOMPARE(file.skip_prk_steps, sd15.skip_prk_steps);
        QVERIFY(!file.timestep_spacing.has_value());
        QVERIFY(file.trained_betas.empty());
        QCOMPARE(file.prediction_type, std::string("epsilon"));
    }

    void unknown_keys_are_ignored_and_python_infinity_is_read()
    {
        const auto c = SchedulerConfig::from_json_text(
            R"({"_class_name": "DPMSolverMultistepScheduler", "lambda_min_clipped": -Infinity,
                "some_future_key": {"nested": [1, 2]}, "variance_type": null,
                "note": "a string with -Infinity inside", "timestep_spacing": "trailing"})",
            "inline");
        QVERIFY(std::isinf(c.lambda_min_clipped) && c.lambda_min_clipped < 0);
        QCOMPARE(c.class_name, std::string("DPMSolverMultistepScheduler"));
        QCOMPARE(c.timestep_spacing.value_or(""), std::string("trailing"));
    }

    void bad_config_is_refused_data()
    {
        QTest::addColumn<QString>("text");
        QTest::addColumn<QString>("expected");
        QTest::newRow("string for a number") << R"({"beta_start": "0.1"})"
                                             << "'beta_start'";
        QTest::newRow("float for an integer") << R"({"num_train_timesteps": 10.5})"
                                              << "'num_train_timesteps'";
        QTest::newRow("number for a boolean") << R"({"clip_sample": 1})"
                                              << "'clip_sample'";
        QTest::newRow("number for a string") << R"({"prediction_type": 3})"
                                             << "'prediction_type'";
        QTest::newRow("unknown beta schedule") << R"({"beta_schedule": "cosine"})"
                                               << "'beta_schedule'";
        QTest::newRow("unknown spacing") << R"({"timestep_spacing": "uniform"})"
                                         << "'timestep_spacing'";
        QTest::newRow("unknown prediction") << R"({"prediction_type": "x0"})"
                                            << "'prediction_type'";
        QTest::newRow("zero train steps") << R"({"num_train_timesteps": 0})"
                                          << "'num_train_timesteps'";
        QTest::newRow("truncated JSON") << R"({"beta_start": 0.1,)"
                                        << "invalid JSON";
        QTest::newRow("not an object") << "[1, 2]"
                                       << "JSON object";
    }
    void bad_config_is_refused()
    {
        QFETCH(QString, text);
        QFETCH(QString, expected);
        test::TempDir dir;
        const auto path = dir / "scheduler_config.json";
        test::write_bytes(path, text.toStdString());
        try {
            SchedulerConfig::from_json(path);
            QFAIL("no ConfigError");
        } catch (const ConfigError& e) {
            const QString message = e.what();
            QVERIFY2(message.contains(QString::fromStdString(path.string())), e.what());
            QVERIFY2(message.contains(expected), e.what());
        }
    }

    void training_schedule_matches_reference()
    {
        const auto config = SchedulerConfig::from_json(source_config());
        const auto betas = config.betas();
        const auto acp = config.alphas_cumprod();
        const auto ref_betas = tensors_->tensor("train.betas");
        const auto ref_acp = tensors_->tensor("train.alphas_cumprod");
        QCOMPARE(betas.scalar_type(), torch::kFloat32);
        QCOMPARE(betas.sizes().vec(), ref_betas.sizes().vec());
        QCOMPARE(acp.sizes().vec(), ref_acp.sizes().vec());
        const double d_betas = max_abs_diff(betas, ref_betas);
        const double d_acp = max_abs_diff(acp, ref_acp);
        qInfo("train: max |d betas| = %.3g, max |d alphas_cumprod| = %.3g", d_betas, d_acp);
        QVERIFY(d_betas <= 1e-6 * ref_betas.abs().max().item<double>());
        QVERIFY(d_acp <= 1e-6);
        if (reference_.contains("final_alpha_cumprod_ddim")) {
            const double expected = reference_["final_alpha_cumprod_ddim"].get<double>();
            QVERIFY(std::abs(acp[0].item<double>() - expected) <= 1e-7);
        }
    }

    // ---- parity with diffusers ----

    void trajectories_match_reference_data()
    {
        QTest::addColumn<QString>("run_name");
        for (const auto& [name, run] : reference_["runs"].items())
            QTest::newRow(name.c_str()) << QString::fromStdString(name);
    }
    void trajectories_match_reference()
    {
        QFETCH(QString, run_name);
        const std::string run = run_name.toStdString();
        const json& r = reference_["runs"][run];
        const json step_kwargs = r.value("step_kwargs", json::object());
        for (const auto& [key, value] : step_kwargs.items())
            if (key != "eta" || value.get<double>() != 0.0)
                QFAIL(qPrintable(QString("unsupported step kwarg %1").arg(key.c_str())));

        const auto config = config_with_overrides(r.value("from_config_overrides", json::object()));
        const auto name = scheduler_name_for(r["class"].get<std::string>(), config);
        QVERIFY2(!name.empty(), r["class"].get<std::string>().c_str());
        auto s = make_scheduler(name, config);
        const int steps = r["num_inference_steps"].get<int>();

        const auto key = [&](const char* what) { return run + "." + what; };
        at::Tensor step_noise;
        if (s->needs_noise()) {
            QVERIFY2(tensors_->contains(key("step_noise")), "run needs step_noise");
            step_noise = tensors_->tensor(key("step_noise"));
        }
        const auto traj = run_trajectory(*s, steps, tensors_->tensor(key("noise0")), step_noise);

        // Schedule: timesteps exact (values and dtype), sigmas relative, init_noise_sigma.
        QCOMPARE(s->num_model_calls(), r["num_model_calls"].get<int>());
        const auto ref_t = tensors_->tensor(key("timesteps"));
        QCOMPARE(s->timesteps().scalar_type(), ref_t.scalar_type());
        QVERIFY2(torch::equal(s->timesteps(), ref_t), run.c_str());
        const auto json_t = r["timesteps"].get<std::vector<double>>();
        QCOMPARE(static_cast<int>(json_t.size()), s->num_model_calls());
        for (int i = 0; i < s->num_model_calls(); ++i)
            QCOMPARE(s->timestep(i), json_t[static_cast<size_t>(i)]);
        if (tensors_->contains(key("sigmas"))) {
            const auto ref = tensors_->tensor(key("sigmas")).to(torch::kFloat64);
            const auto ours = s->sigmas();
            QVERIFY2(ours.defined(), "scheduler has no sigmas");
            QCOMPARE(ours.sizes().vec(), ref.sizes().vec());
            const auto rel = ((ours.to(torch::kFloat64) - ref).abs() / ref.abs().clamp_min(1e-30));
            const double worst = torch::where(ref == 0, (ours.to(torch::kFloat64) - ref).abs(), rel)
                                     .max()
                                     .item<double>();
            QVERIFY2(worst <= kSigmaRelTol, qPrintable(QString("sigmas rel %1").arg(worst)));
        } else {
            QVERIFY(r["sigmas"].is_null());
        }
        const double ref_sigma = r["init_noise_sigma"].get<double>();
        QVERIFY(std::abs(s->init_noise_sigma() - ref_sigma) <= 1e-6 * std::max(1.0, ref_sigma));

        // Trajectory: 1e-4 * max(1, max|x|) everywhere.
        const auto ref_x = tensors_->tensor(key("x"));
        const double scale = std::max(1.0, ref_x.abs().max().item<double>());
        const double tol = kTrajectoryTol * scale;
        double worst = 0;
        auto check = [&](const char* what, const at::Tensor& ours) {
            const auto ref = tensors_->tensor(key(what));
            QVERIFY2(ours.defined(), what);
            QVERIFY2(ours.sizes() == ref.sizes(),
                     qPrintable(QString("%1: shape %2 vs %3")
                                    .arg(what, shape_of(ours).c_str(), shape_of(ref).c_str())));
            const double d = max_abs_diff(ours, ref);
            worst = std::max(worst, d);
            QVERIFY2(
                d <= tol,
                qPrintable(
                    QString("%1 %2: max |diff| %3 > %4").arg(run.c_str(), what).arg(d).arg(tol)));
        };
        for (const auto& [what, ours] :
             {std::pair{"x_in", traj.x_in}, std::pair{"model_output", traj.model_output},
              std::pair{"x", traj.x},
              std::pair{"pred_original_sample", traj.pred_original_sample}}) {
            if (std::string(what) == "pred_original_sample" && !tensors_->contains(key(what)))
                continue;
            check(what, ours);
            if (QTest::currentTestFailed())
                return;
        }
        qInfo("%-20s %-16s %2d calls  max |diff| %.3g  (%.3g of max(1, max|x|) = %.3g)",
              run.c_str(), name.c_str(), s->num_model_calls(), worst, worst / scale, scale);
    }

    // ---- behaviour ----

    void set_timesteps_resets_state_data()
    {
        QTest::addColumn<QString>("name");
        for (const auto& n : scheduler_names())
            QTest::newRow(n.c_str()) << QString::fromStdString(n);
    }
    void set_timesteps_resets_state()
    {
        QFETCH(QString, name);
        auto s = make_scheduler(name.toStdString(), SchedulerConfig::sd15());
        QCOMPARE(QString::fromStdString(s->name()), name);
        torch::manual_seed(7);
        const auto noise0 = torch::randn({1, 4, 8, 8});
        const auto step_noise = torch::randn({20, 1, 4, 8, 8});
        const auto first = run_trajectory(*s, 9, noise0, step_noise);
        // Leave the scheduler mid-way through another schedule.
        s->set_timesteps(4);
        auto x = noise0 * s->init_noise_sigma();
        for (int i = 0; i < 2; ++i)
            x = s->step(reference_model(s->scale_model_input(x, i), s->timestep(i)), i, x,
                        step_noise[i])
                    .prev_sample;
        const auto second = run_trajectory(*s, 9, noise0, step_noise);
        QVERIFY(torch::equal(first.x, second.x));
        QVERIFY(torch::isfinite(first.x).all().item<bool>());
        QCOMPARE(s->num_model_calls(), static_cast<int>(s->timesteps().size(0)));
    }

    void unknown_name_is_refused()
    {
        try {
            make_scheduler("k_lms", SchedulerConfig::sd15());
            QFAIL("no InvalidRequest");
        } catch (const InvalidRequest& e) {
            const QString message = e.what();
            QVERIFY2(message.contains("k_lms"), e.what());
            for (const auto& n : scheduler_names())
                QVERIFY2(message.contains(QString::fromStdString(n)), e.what());
        }
    }

    void invalid_step_counts_are_refused_data() { set_timesteps_resets_state_data(); }
    void invalid_step_counts_are_refused()
    {
        QFETCH(QString, name);
        auto s = make_scheduler(name.toStdString(), SchedulerConfig::sd15());
        const auto x = torch::zeros({1, 4, 8, 8});
        QVERIFY_THROWS_EXCEPTION(InvalidRequest, s->step(x, 0, x, x)); // before set_timesteps
        QVERIFY_THROWS_EXCEPTION(InvalidRequest, s->set_timesteps(0));
        QVERIFY_THROWS_EXCEPTION(InvalidRequest, s->set_timesteps(-3));
        QVERIFY_THROWS_EXCEPTION(InvalidRequest, s->set_timesteps(1001));
        s->set_timesteps(5);
        QVERIFY_THROWS_EXCEPTION(InvalidRequest, s->step(x, s->num_model_calls(), x, x));
        QVERIFY_THROWS_EXCEPTION(InvalidRequest, s->timestep(-1));
    }

    void euler_ancestral_requires_noise()
    {
        auto s = make_scheduler("euler-a", SchedulerConfig::sd15());
        QVERIFY(s->needs_noise());
        s->set_timesteps(5);
        const auto x = torch::zeros({1, 4, 8, 8});
        QVERIFY_THROWS_EXCEPTION(InvalidRequest, s->step(x, 0, x));
    }

    void multistep_schedulers_refuse_out_of_order_steps_data()
    {
        QTest::addColumn<QString>("name");
        QTest::newRow("pndm") << "pndm";
        QTest::newRow("dpmpp-2m") << "dpmpp-2m";
    }
    void multistep_schedulers_refuse_out_of_order_steps()
    {
        QFETCH(QString, name);
        auto s = make_scheduler(name.toStdString(), SchedulerConfig::sd15());
        s->set_timesteps(5);
        const auto x = torch::ones({1, 4, 8, 8});
        s->step(x, 0, x);
        QVERIFY_THROWS_EXCEPTION(InvalidRequest, s->step(x, 2, x));
    }

    void add_noise_matches_hand_computation()
    {
        const auto acp = tensors_->tensor("train.alphas_cumprod").to(torch::kFloat64);
        torch::manual_seed(3);
        const auto x0 = torch::randn({3, 4, 8, 8});
        const auto noise = torch::randn({3, 4, 8, 8});
        const auto t = torch::tensor({0, 500, 999}, torch::kInt64);
        for (const auto& n : scheduler_names()) {
            auto s = make_scheduler(n, SchedulerConfig::from_json(source_config()));
            const auto noisy = s->add_noise(x0, noise, t);
            QCOMPARE(noisy.scalar_type(), torch::kFloat32);
            for (int b = 0; b < 3; ++b) {
                const double a = acp[t[b].item<int64_t>()].item<double>();
                const auto expected = x0[b].to(torch::kFloat64) * std::sqrt(a) +
                                      noise[b].to(torch::kFloat64) * std::sqrt(1 - a);
                QVERIFY2(max_abs_diff(noisy[b], expected) <= 1e-6, n.c_str());
            }
        }
        auto s = make_scheduler("ddim", SchedulerConfig::sd15());
        QVERIFY_THROWS_EXCEPTION(
            InvalidRequest, s->add_noise(x0, noise, torch::tensor({0, 1, 1000}, torch::kInt64)));
    }

    // Hand-derived from diffusers' set_timesteps for the spacings SD1.5 does not use.
    void timestep_spacings_data()
    {
        QTest::addColumn<QString>("name");
        QTest::addColumn<QString>("spacing");
        QTest::addColumn<int>("steps");
        QTest::addColumn<QList<double>>("expected");
        QTest::newRow("ddim trailing")
            << "ddim"
            << "trailing" << 10 << QList<double>{999, 899, 799, 699, 599, 499, 399, 299, 199, 99};
        QTest::newRow("ddim linspace")
            << "ddim"
            << "linspace" << 10 << QList<double>{999, 888, 777, 666, 555, 444, 333, 222, 111, 0};
        QTest::newRow("pndm trailing")
            << "pndm"
            << "trailing" << 10
            << QList<double>{999, 899, 899, 799, 699, 599, 499, 399, 299, 199, 99};
        QTest::newRow("euler leading")
            << "euler"
            << "leading" << 10 << QList<double>{901, 801, 701, 601, 501, 401, 301, 201, 101, 1};
        QTest::newRow("euler trailing") << "euler"
                                        << "trailing" << 4 << QList<double>{999, 749, 499, 249};
        QTest::newRow("dpmpp-2m leading")
            << "dpmpp-2m"
            << "leading" << 10 << QList<double>{901, 811, 721, 631, 541, 451, 361, 271, 181, 91};
        QTest::newRow("dpmpp-2m trailing")
            << "dpmpp-2m"
            << "trailing" << 10 << QList<double>{999, 899, 799, 699, 599, 499, 399, 299, 199, 99};
        QTest::newRow("ddim trailing 61 (no spurious -1)") << "ddim"
                                                           << "trailing" << 61 << QList<double>{};
    }
    void timestep_spacings()
    {
        QFETCH(QString, name);
        QFETCH(QString, spacing);
        QFETCH(int, steps);
        QFETCH(QList<double>, expected);
        auto s = make_scheduler(name.toStdString(),
                                sd15_with("timestep_spacing", spacing.toStdString()));
        s->set_timesteps(steps);
        if (expected.isEmpty()) {
            QCOMPARE(s->num_model_calls(), steps);
            QVERIFY(s->timesteps().min().item<double>() >= 0);
            return;
        }
        QCOMPARE(s->num_model_calls(), static_cast<int>(expected.size()));
        for (int i = 0; i < s->num_model_calls(); ++i)
            QCOMPARE(s->timestep(i), expected[i]);
        if (name == "euler" && spacing == "leading") {
            const double sigma_max = s->sigmas().max().item<double>();
            QVERIFY(std::abs(s->init_noise_sigma() - std::sqrt(sigma_max * sigma_max + 1)) < 1e-5);
        }
    }

    // x0 = the prediction a scheduler recovers when the model output is the exact epsilon or v.
    void prediction_types_recover_x0_data()
    {
        QTest::addColumn<QString>("name");
        QTest::addColumn<QString>("prediction");
        for (const char* n : {"ddim", "euler", "euler-a", "dpmpp-2m", "dpmpp-2m-karras"})
            for (const char* p : {"epsilon", "v_prediction"})
                QTest::newRow((std::string(n) + " " + p).c_str()) << n << p;
    }
    void prediction_types_recover_x0()
    {
        QFETCH(QString, name);
        QFETCH(QString, prediction);
        auto s = make_scheduler(name.toStdString(),
                                sd15_with("prediction_type", prediction.toStdString()));
        s->set_timesteps(10);
        const int i = 3;
        torch::manual_seed(11);
        const auto x0 = torch::randn({1, 4, 8, 8}, torch::kFloat64);
        const auto eps = torch::randn({1, 4, 8, 8}, torch::kFloat64);
        double alpha = 0, sigma = 0, scale = 1; // x = scale * (alpha x0 + sigma eps)
        if (name == "ddim") {
            const double a =
                s->alphas_cumprod()[static_cast<int64_t>(s->timestep(i))].item<double>();
            alpha = std::sqrt(a);
            sigma = std::sqrt(1 - a);
        } else {
            const double k = s->sigmas()[i].item<double>(); // Karras sigma
            alpha = 1 / std::sqrt(k * k + 1);
            sigma = k * alpha;
            if (name.startsWith("euler"))
                scale = 1 / alpha; // Euler's sample is x0 + k eps
        }
        const auto x = ((x0 * alpha + eps * sigma) * scale).to(torch::kFloat32);
        const auto output =
            (prediction == "epsilon" ? eps : eps * alpha - x0 * sigma).to(torch::kFloat32);
        const auto r = s->step(output, i, x, torch::zeros_like(x));
        QVERIFY(r.pred_original_sample.defined());
        const double d = max_abs_diff(r.pred_original_sample, x0);
        QVERIFY2(d < 1e-4, qPrintable(QString("max |x0 diff| %1").arg(d)));
    }

    void unsupported_options_are_config_errors()
    {
        QVERIFY_THROWS_EXCEPTION(ConfigError,
                                 make_scheduler("ddim", sd15_with("thresholding", true)));
        QVERIFY_THROWS_EXCEPTION(
            ConfigError, make_scheduler("euler", sd15_with("interpolation_type", "log_linear")));
        SchedulerConfig c = SchedulerConfig::sd15();
        c.beta_schedule = "sigmoid";
        QVERIFY_THROWS_EXCEPTION(ConfigError, make_scheduler("euler", c));
    }
};

QTEST_APPLESS_MAIN(TestSchedulers)
#include "test_schedulers.moc"
