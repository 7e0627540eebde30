// SPDX-License-Identifier: GPL-3.0-or-later
// Text-to-image: parity with the reference txt2img run (fixture 6), seeding, cancellation, model
// loading errors and request validation. Everything is derived from the fixture files.
#include "common/error.h"
#include "pipeline/components.h"
#include "pipeline/denoise.h"
#include "pipeline/prompt_encoding.h"
#include "pipeline/strip.h"
#include "pipeline/text2image.h"
#include "schedulers/scheduler.h"
#include "support/parity.h"
#include "tensor_io/image_tensor.h"

#include <QtTest>
#include <torch/torch.h>

using namespace psa;
namespace fs = std::filesystem;

namespace {

std::shared_ptr<ModelComponents> tiny_model()
{
    JobControl job;
    LoadModelOptions o;
    o.device = "cpu";
    return load_model(test::require_fixtures() / "tiny-sd", o, job);
}

// A copy of the tiny model folder (symlinked files) that a test may break.
fs::path copy_model(const test::TempDir& dir)
{
    const auto src = test::require_fixtures() / "tiny-sd";
    const auto dst = dir / "model";
    fs::copy(src, dst, fs::copy_options::recursive);
    return dst;
}

std::string load_error(const fs::path& path)
{
    try {
        JobControl job;
        LoadModelOptions o;
        o.device = "cpu";
        load_model(path, o, job);
    } catch (const Error& e) {
        return e.what();
    }
    return {};
}

} // namespace

class TestPipeline : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void txt2img_matches_reference()
    {
        const auto dir = test::require_fixtures();
        const auto spec = test::read_json(dir / "expected" / "pipeline_txt2img.json");
        const auto fx = SafetensorsFile::open(dir / "expected" / "pipeline_txt2img.safetensors");
        auto model = tiny_model();
        c10::InferenceMode guard;

        const auto prompt = spec["prompt"][0].get<std::string>();
        const auto negative = spec["negative_prompt"][0].get<std::string>();
        const auto cond = encode_prompts(*model, {prompt}, 0);
        const auto uncond = encode_prompts(*model, {negative}, 0);
        PSA_COMPARE_TENSOR("prompt_embeds", cond, fx.tensor("prompt_embeds"), 1e-4);
        PSA_COMPARE_TENSOR("negative_prompt_embeds", uncond, fx.tensor("negative_prompt_embeds"), 1e-4);

        const std::string sched = spec["scheduler"].get<std::string>();
        QVERIFY2(sched.rfind("DDIMScheduler", 0) == 0, sched.c_str());
        auto scheduler = make_scheduler("ddim", model->scheduler_config);
        scheduler->set_timesteps(spec["num_inference_steps"].get<int>());
        QVERIFY(torch::equal(scheduler->timesteps().to(torch::kLong), fx.tensor("timesteps")));

        DenoiseInputs in;
        in.noise = fx.tensor("init_latents");
        in.text_cond = cond;
        in.text_uncond = uncond;
        in.guidance_scale = spec["guidance_scale"].get<double>();
        DenoiseTrace trace;
        at::Tensor latents;
        JobControl job;
        QCOMPARE(denoise(model->unet, *scheduler, in, job, latents, &trace), Outcome::Completed);
        const auto unet_input = fx.tensor("unet_input"), unet_output = fx.tensor("unet_output"),
                   after = fx.tensor("latents_after_step");
        QCOMPARE(static_cast<int64_t>(trace.unet_input.size()), unet_input.size(0));
        for (size_t i = 0; i < trace.unet_input.size(); ++i) {
            const auto k = static_cast<int64_t>(i);
            PSA_COMPARE_TENSOR("unet_input[" + std::to_string(i) + "]", trace.unet_input[i], unet_input[k], 1e-4);
            PSA_COMPARE_TENSOR("unet_output[" + std::to_string(i) + "]", trace.unet_output[i], unet_output[k], 1e-4);
            PSA_COMPARE_TENSOR("latents_after_step[" + std::to_string(i) + "]", trace.latents_after_step[i],
                               after[k], 1e-3);
        }
        PSA_COMPARE_TENSOR("final_latents", latents, fx.tensor("final_latents"), 1e-3);
        const auto image = (model->vae->decode(latents / model->vae_config.scaling_factor) / 2.0 + 0.5).clamp(0, 1);
        PSA_COMPARE_TENSOR("image", image, fx.tensor("image"), 1e-4);
        const auto u8 = tensor_to_image(image[0]);
        const auto expected_u8 = fx.tensor("image_uint8_hwc")[0].contiguous();
        const auto got_u8 = torch::from_blob(const_cast<uint8_t*>(u8.rgb.data()), expected_u8.sizes(), torch::kUInt8);
        const double d = test::max_abs_diff(got_u8, expected_u8);
        qInfo("image_uint8_hwc max |diff| %.0f (tol 1: rounding at exact halves)", d);
        QVERIFY(d <= 1.0);
    }

    void same_seed_gives_identical_images()
    {
        Text2Image t2i(tiny_model());
        GenerationRequest r;
        r.prompt = "a red fox";
        r.seed = 1234;
        r.steps = 3;
        r.batch = 2;
        JobControl job;
        const auto a = t2i.generate(r, job), b = t2i.generate(r, job);
        QCOMPARE(a.images.size(), size_t(2));
        QCOMPARE(a.images[0].image.rgb, b.images[0].image.rgb);
        QCOMPARE(a.images[1].image.rgb, b.images[1].image.rgb);
        QCOMPARE(a.images[1].seed, std::uint64_t(1235));
        // Image 1 of a batch equals image 0 of a run seeded with seed + 1.
        r.batch = 1;
        r.seed = 1235;
        const auto c = t2i.generate(r, job);
        QVERIFY(test::max_abs_diff(image_to_tensor(c.images[0].image), image_to_tensor(a.images[1].image)) <= 2.0 / 255);
        QCOMPARE(a.images[0].image.width, t2i.model().default_image_size());
    }

    void every_sampler_runs()
    {
        Text2Image t2i(tiny_model());
        for (const auto& name : scheduler_names()) {
            GenerationRequest r;
            r.prompt = "a house";
            r.sampler = name;
            r.steps = 4;
            JobControl job;
            const auto res = t2i.generate(r, job);
            QCOMPARE(res.images.size(), size_t(1));
            QVERIFY2(res.completed_steps >= 4, name.c_str());
        }
    }

    void stop_at_step_k_cancels_within_one_step()
    {
        Text2Image t2i(tiny_model());
        GenerationRequest r;
        r.prompt = "a tree";
        r.steps = 10;
        for (int k : {1, 4}) {
            std::stop_source stop;
            int denoise_events = 0;
            JobControl job(stop.get_token(), [&](const Progress& p) {
                if (p.stage == Stage::Denoise && p.step > 0 && ++denoise_events == k)
                    stop.request_stop();
            });
            const auto res = t2i.generate(r, job);
            QCOMPARE(res.outcome, Outcome::Cancelled);
            QVERIFY(res.images.empty());
            QVERIFY(denoise_events <= k + 1);
        }
    }

    void long_prompt_is_truncated_with_a_warning()
    {
        Text2Image t2i(tiny_model());
        GenerationRequest r;
        for (int i = 0; i < 100; ++i)
            r.prompt += "word ";
        r.steps = 1;
        JobControl job;
        const auto res = t2i.generate(r, job);
        QCOMPARE(res.images.size(), size_t(1));
        QVERIFY(!res.warnings.empty());
        QVERIFY(res.warnings.front().find("102 tokens") != std::string::npos);
    }

    void bad_requests_name_the_field_data()
    {
        QTest::addColumn<int>("width");
        QTest::addColumn<int>("steps");
        QTest::addColumn<QString>("sampler");
        QTest::addColumn<QString>("expected");
        QTest::newRow("width") << 13 << 4 << "ddim" << "width: 13 is not a multiple of";
        QTest::newRow("zero steps") << 0 << 0 << "ddim" << "steps: 0";
        QTest::newRow("sampler") << 0 << 4 << "lms" << "sampler: unknown \"lms\"";
    }
    void bad_requests_name_the_field()
    {
        QFETCH(int, width);
        QFETCH(int, steps);
        QFETCH(QString, sampler);
        QFETCH(QString, expected);
        Text2Image t2i(tiny_model());
        GenerationRequest r;
        r.prompt = "x";
        r.width = width;
        r.steps = steps;
        r.sampler = sampler.toStdString();
        JobControl job;
        try {
            t2i.generate(r, job);
            QFAIL("expected InvalidRequest");
        } catch (const InvalidRequest& e) {
            QVERIFY2(QString(e.what()).contains(expected), e.what());
        }
    }

    void model_loading_errors_are_one_clear_line()
    {
        test::TempDir dir;
        QVERIFY(load_error(dir / "nope").find("no such file or folder") != std::string::npos);
        auto model = copy_model(dir);
        fs::remove_all(model / "vae");
        QVERIFY(load_error(model).find("missing subfolder vae/") != std::string::npos);

        test::TempDir dir2;
        model = copy_model(dir2);
        test::write_bytes(model / "unet" / "diffusion_pytorch_model.safetensors", "garbage");
        QVERIFY(load_error(model).find("diffusion_pytorch_model.safetensors") != std::string::npos);

        test::TempDir dir3;
        model = copy_model(dir3);
        auto cfg = test::read_json(model / "unet" / "config.json");
        cfg["cross_attention_dim"] = 48; // config no longer matches the weights
        test::write_bytes(model / "unet" / "config.json", cfg.dump());
        const auto msg = load_error(model);
        QVERIFY2(msg.find("mis-shaped") != std::string::npos, msg.c_str());
        QVERIFY(msg.find("attn2.to_k.weight: expected") != std::string::npos);

        test::write_bytes(dir3 / "model.ckpt", "x");
        QVERIFY(load_error(dir3 / "model.ckpt").find("expected a diffusers folder") != std::string::npos);
    }

    void strip_has_one_cell_per_image()
    {
        Image img;
        img.width = 16;
        img.height = 16;
        img.rgb.assign(16 * 16 * 3, 200);
        const auto strip = compose_labelled_strip({{"L0", img}, {"L1", img}, {"L5", img}});
        QVERIFY(strip.width >= 3 * 16);
        QVERIFY(strip.height > 16);
    }
};

QTEST_APPLESS_MAIN(TestPipeline)
#include "test_pipeline.moc"
