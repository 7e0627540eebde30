// SPDX-License-Identifier: GPL-3.0-or-later
// CLIP text encoder against the reference fixtures (tiny-sd/text_encoder + expected/
// text_encoder.safetensors), the full-size SD1.5 manifest, strict loading and config errors.
// Every config, shape and input comes from the fixture files.
#include "common/error.h"
#include "support/test_support.h"
#include "tensor_io/layers.h"
#include "tensor_io/state_dict.h"
#include "text_encoder/clip_text_model.h"

#include <QtTest>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

using namespace psa;
namespace fs = std::filesystem;

namespace {

// fixtures/README.md, "Summary of tolerances": text encoder last_hidden_state, CPU fp32.
constexpr double kTolerance = 1e-4;

double max_deviation(const at::Tensor& got, const at::Tensor& expected)
{
    if (got.sizes() != expected.sizes())
        throw std::runtime_error("shape " + shape_string(got.sizes()) + " vs expected " +
                                 shape_string(expected.sizes()));
    return (got.to(torch::kDouble) - expected.to(torch::kDouble)).abs().max().item<double>();
}

const at::Tensor& tensor_of(const StateDict& dict, const std::string& name)
{
    const auto it = dict.find(name);
    if (it == dict.end())
        throw std::runtime_error("fixture tensor \"" + name + "\" is missing");
    return it->second;
}

struct Manifest {
    std::vector<std::pair<std::string, std::vector<int64_t>>> entries;
    int64_t declared_parameters = -1; // from a "# parameters: N" comment, when present
};

// "name<TAB>comma-separated shape" lines; '#' starts a comment line.
Manifest read_manifest(const fs::path& path)
{
    std::ifstream in(path);
    if (!in)
        throw std::runtime_error("cannot open " + path.string());
    Manifest m;
    for (std::string line; std::getline(in, line);) {
        if (line.empty())
            continue;
        if (line[0] == '#') {
            const auto pos = line.find("parameters:");
            if (pos != std::string::npos)
                m.declared_parameters = std::stoll(line.substr(pos + 11));
            continue;
        }
        const auto tab = line.find('\t');
        if (tab == std::string::npos)
            throw std::runtime_error(path.string() + ": no tab in \"" + line + "\"");
        std::vector<int64_t> shape;
        std::stringstream dims(line.substr(tab + 1));
        for (std::string d; std::getline(dims, d, ',');)
            if (!d.empty())
                shape.push_back(std::stoll(d));
        m.entries.emplace_back(line.substr(0, tab), shape);
    }
    return m;
}

std::string shape_text(const std::vector<int64_t>& s) { return shape_string(s); }

nlohmann::json read_json(const fs::path& path)
{
    std::ifstream in(path);
    return nlohmann::json::parse(in);
}

} // namespace

class TestTextEncoder : public QObject {
    Q_OBJECT

    fs::path fixtures_;
    CLIPTextConfig config_;
    StateDict weights_;
    StateDict expected_;
    CLIPTextModel model_{nullptr};

    fs::path config_path() const { return fixtures_ / "tiny-sd" / "text_encoder" / "config.json"; }
    fs::path weights_path() const { return fixtures_ / "tiny-sd" / "text_encoder" / "model.safetensors"; }

private Q_SLOTS:
    void initTestCase()
    {
        fixtures_ = test::fixtures_dir();
        const auto expected_path = fixtures_ / "expected" / "text_encoder.safetensors";
        for (const auto& p : {config_path(), weights_path(), expected_path})
            if (!fs::exists(p))
                QFAIL(qPrintable(QString("fixture missing: %1 (set PSA_FIXTURES)").arg(QString::fromStdString(p.string()))));
        config_ = CLIPTextConfig::from_json(config_path());
        weights_ = load_state_dict(weights_path());
        expected_ = load_state_dict(expected_path);
        {
            ParamInitScope empty(ParamInit::Empty);
            model_ = CLIPTextModel(config_);
        }
        load_text_encoder_weights(model_, weights_, "tiny-sd/text_encoder/model.safetensors");
        model_->eval();
    }

    void outputs_have_documented_shapes()
    {
        torch::InferenceMode guard;
        const auto ids = tensor_of(expected_, "input_ids");
        const auto out = model_(ids, true);
        const auto B = ids.size(0), L = ids.size(1), H = config_.hidden_size;
        QCOMPARE(out.last_hidden_state.sizes().vec(), (std::vector<int64_t>{B, L, H}));
        QCOMPARE(out.pooler_output.sizes().vec(), (std::vector<int64_t>{B, H}));
        QCOMPARE(int64_t(out.hidden_states.size()), config_.num_hidden_layers + 1);
        for (const auto& h : out.hidden_states)
            QCOMPARE(h.sizes().vec(), (std::vector<int64_t>{B, L, H}));
        QCOMPARE(out.last_hidden_state.scalar_type(), torch::kFloat32);
        QVERIFY(model_(ids).hidden_states.empty());
    }

    void matches_reference_data()
    {
        QTest::addColumn<QString>("name");
        QTest::newRow("last_hidden_state") << "last_hidden_state";
        QTest::newRow("pooler_output") << "pooler_output";
        QTest::newRow("hidden_states") << "hidden_states";
    }
    void matches_reference()
    {
        QFETCH(QString, name);
        torch::InferenceMode guard;
        const auto out = model_(tensor_of(expected_, "input_ids"), true);
        const auto& expected = tensor_of(expected_, name.toStdString());
        at::Tensor got;
        if (name == "last_hidden_state")
            got = out.last_hidden_state;
        else if (name == "pooler_output")
            got = out.pooler_output;
        else
            got = torch::stack(out.hidden_states); // [layers + 1, B, L, H], as the fixture stacks them
        const double dev = max_deviation(got, expected);
        qInfo("text_encoder %s: max |deviation| %.3g (tolerance %.0e)", qPrintable(name), dev, kTolerance);
        QVERIFY2(dev <= kTolerance, qPrintable(QString("%1 deviates by %2").arg(name).arg(dev)));
    }

    void pooled_token_is_the_first_eos()
    {
        torch::InferenceMode guard;
        const auto ids = tensor_of(expected_, "input_ids");
        const auto out = model_(ids);
        // The same model with a non-legacy eos_token_id (first position equal to 49407).
        auto config = config_;
        config.eos_token_id = 49407;
        CLIPTextModel explicit_eos{nullptr};
        {
            ParamInitScope empty(ParamInit::Empty);
            explicit_eos = CLIPTextModel(config);
        }
        load_text_encoder_weights(explicit_eos, weights_, "model.safetensors");
        QVERIFY(torch::equal(explicit_eos(ids).pooler_output, out.pooler_output));
        for (int64_t b = 0; b < ids.size(0); ++b) {
            const auto first_eos = ids[b].eq(49407).nonzero()[0][0].item<int64_t>();
            QVERIFY(torch::equal(out.pooler_output[b], out.last_hidden_state[b][first_eos]));
        }
    }

    void clip_skip_uses_earlier_layers_with_final_norm()
    {
        torch::InferenceMode guard;
        const auto ids = tensor_of(expected_, "input_ids");
        const auto& ref_states = tensor_of(expected_, "hidden_states"); // [layers + 1, B, L, H]
        const auto& ref_last = tensor_of(expected_, "last_hidden_state");
        const auto out = model_(ids, true);
        QVERIFY(max_deviation(model_->encode_with_clip_skip(out, 0), ref_last) <= kTolerance);
        QVERIFY(max_deviation(model_->encode(ids, 1), ref_last) <= kTolerance);
        const auto n_states = ref_states.size(0);
        for (int k = 2; k <= config_.num_hidden_layers; ++k) {
            // Reference: final_layer_norm applied to the reference hidden_states[-k].
            const auto ln = model_->text_model->final_layer_norm;
            const auto expected = torch::layer_norm(ref_states[n_states - k], {config_.hidden_size},
                                                    ln->weight, ln->bias, config_.layer_norm_eps);
            const double dev = max_deviation(model_->encode(ids, k), expected);
            qInfo("text_encoder clip_skip %d: max |deviation| %.3g", k, dev);
            QVERIFY(dev <= kTolerance);
            QVERIFY(torch::equal(model_->encode(ids, k), model_->encode_with_clip_skip(out, k)));
        }
        QVERIFY_THROWS_EXCEPTION(InvalidRequest, model_->encode(ids, -1));
        QVERIFY_THROWS_EXCEPTION(InvalidRequest, model_->encode(ids, int(config_.num_hidden_layers) + 1));
        if (config_.num_hidden_layers >= 2)
            QVERIFY_THROWS_EXCEPTION(InvalidRequest, model_->encode_with_clip_skip(model_(ids), 2));
    }

    void single_prompt_matches_its_row_in_the_batch()
    {
        torch::InferenceMode guard;
        const auto ids = tensor_of(expected_, "input_ids");
        const auto& ref = tensor_of(expected_, "last_hidden_state");
        const auto last = ids.size(0) - 1;
        const auto one = model_(ids.slice(0, last, last + 1)).last_hidden_state;
        QVERIFY(max_deviation(one, ref.slice(0, last, last + 1)) <= kTolerance);
    }

    void same_input_twice_is_bit_identical()
    {
        torch::InferenceMode guard;
        const auto ids = tensor_of(expected_, "input_ids");
        const auto a = model_(ids, true), b = model_(ids, true);
        QVERIFY(torch::equal(a.last_hidden_state, b.last_hidden_state));
        QVERIFY(torch::equal(a.pooler_output, b.pooler_output));
        for (size_t i = 0; i < a.hidden_states.size(); ++i)
            QVERIFY(torch::equal(a.hidden_states[i], b.hidden_states[i]));
    }

    void input_contract_is_checked()
    {
        torch::InferenceMode guard;
        const auto ids = tensor_of(expected_, "input_ids");
        QVERIFY_THROWS_EXCEPTION(c10::Error, model_(ids.to(torch::kFloat)));
        QVERIFY_THROWS_EXCEPTION(c10::Error, model_(ids[0]));
        const auto too_long = torch::zeros({1, config_.max_position_embeddings + 1}, torch::kLong);
        QVERIFY_THROWS_EXCEPTION(c10::Error, model_(too_long));
    }

    void sd15_manifest_names_and_shapes_match()
    {
        const auto dir = fixtures_ / "manifests";
        const auto config = CLIPTextConfig::from_json(dir / "sd15_text_encoder_config.json");
        const auto manifest = read_manifest(dir / "sd15_text_encoder.tsv");
        ParamInitScope meta(ParamInit::Meta);
        CLIPTextModel model(config);
        QVERIFY(model->text_model->embeddings->token_embedding->weight.is_meta());
        std::map<std::string, std::vector<int64_t>> ours;
        for (const auto& [name, shape] : parameter_shapes(*model))
            ours[name] = shape;
        QStringList faults;
        std::set<std::string> listed;
        for (const auto& [name, shape] : manifest.entries) {
            listed.insert(name);
            const auto it = ours.find(name);
            if (it == ours.end())
                faults << QString("missing: %1").arg(QString::fromStdString(name));
            else if (it->second != shape)
                faults << QString("%1: manifest %2, ours %3")
                              .arg(QString::fromStdString(name), QString::fromStdString(shape_text(shape)),
                                   QString::fromStdString(shape_text(it->second)));
        }
        for (const auto& [name, shape] : ours)
            if (!listed.count(name))
                faults << QString("not in the manifest: %1").arg(QString::fromStdString(name));
        QVERIFY2(faults.isEmpty(), qPrintable(faults.mid(0, 10).join("\n")));
        QCOMPARE(ours.size(), manifest.entries.size());
        if (manifest.declared_parameters >= 0)
            QCOMPARE(parameter_count(*model), manifest.declared_parameters);
        qInfo("sd15 text encoder: %zu tensors, %lld parameters on the meta device", ours.size(),
              static_cast<long long>(parameter_count(*model)));
    }

    void sd15_factory_matches_manifest_config()
    {
        const auto file = CLIPTextConfig::from_json(fixtures_ / "manifests" / "sd15_text_encoder_config.json");
        const auto f = CLIPTextConfig::sd15();
        QCOMPARE(f.vocab_size, file.vocab_size);
        QCOMPARE(f.hidden_size, file.hidden_size);
        QCOMPARE(f.intermediate_size, file.intermediate_size);
        QCOMPARE(f.num_hidden_layers, file.num_hidden_layers);
        QCOMPARE(f.num_attention_heads, file.num_attention_heads);
        QCOMPARE(f.max_position_embeddings, file.max_position_embeddings);
        QCOMPARE(f.hidden_act, file.hidden_act);
        QCOMPARE(f.layer_norm_eps, file.layer_norm_eps);
        QCOMPARE(f.projection_dim, file.projection_dim);
    }

    void tiny_factory_builds_and_runs()
    {
        torch::manual_seed(0);
        CLIPTextModel model(CLIPTextConfig::tiny());
        torch::InferenceMode guard;
        const auto ids = torch::randint(0, 49406, {2, 77}, torch::kLong);
        const auto out = model(ids, true);
        QCOMPARE(out.last_hidden_state.sizes().vec(), (std::vector<int64_t>{2, 77, 16}));
        QVERIFY(torch::isfinite(out.last_hidden_state).all().item<bool>());
        QCOMPARE(int64_t(out.hidden_states.size()), CLIPTextConfig::tiny().num_hidden_layers + 1);
    }

    void position_ids_buffer_is_ignored()
    {
        auto dict = weights_;
        dict["text_model.embeddings.position_ids"] =
            torch::arange(config_.max_position_embeddings, torch::kLong).unsqueeze(0);
        ParamInitScope empty(ParamInit::Empty);
        CLIPTextModel model(config_);
        load_text_encoder_weights(model, dict, "with position_ids");
        QVERIFY(torch::equal(model->text_model->final_layer_norm->weight,
                             tensor_of(weights_, "text_model.final_layer_norm.weight")));
    }

    void strict_load_reports_key_faults_data()
    {
        QTest::addColumn<QString>("fault");
        QTest::newRow("missing") << "missing";
        QTest::newRow("unexpected") << "unexpected";
        QTest::newRow("mis-shaped") << "mis-shaped";
    }
    void strict_load_reports_key_faults()
    {
        QFETCH(QString, fault);
        auto dict = weights_;
        const std::string missing_key = "text_model.final_layer_norm.bias";
        const std::string bad_key = "text_model.embeddings.position_embedding.weight";
        const std::string extra_key = "text_model.text_projection.weight";
        QVERIFY(dict.count(missing_key) && dict.count(bad_key) && !dict.count(extra_key));
        const auto good_shape = dict.at(bad_key).sizes().vec();
        std::string header, detail;
        if (fault == "missing") {
            dict.erase(missing_key);
            header = "1 missing, 0 unexpected, 0 mis-shaped";
            detail = "missing: " + missing_key;
        } else if (fault == "unexpected") {
            dict[extra_key] = torch::zeros({2, 2});
            header = "0 missing, 1 unexpected, 0 mis-shaped";
            detail = "unexpected: " + extra_key;
        } else {
            auto shape = good_shape;
            shape[0] += 1;
            dict[bad_key] = torch::zeros(shape);
            header = "0 missing, 0 unexpected, 1 mis-shaped";
            detail = bad_key + ": expected " + shape_string(good_shape) + ", got " + shape_string(shape);
        }
        ParamInitScope empty(ParamInit::Empty);
        CLIPTextModel model(config_);
        try {
            load_text_encoder_weights(model, dict, "text_encoder/model.safetensors");
            QFAIL("expected ModelLoadError");
        } catch (const ModelLoadError& e) {
            const std::string msg = e.what();
            QVERIFY2(msg.rfind("text_encoder/model.safetensors: " + header, 0) == 0, msg.c_str());
            QVERIFY2(msg.find(detail) != std::string::npos, msg.c_str());
        }
    }

    void config_errors_name_key_and_file_data()
    {
        QTest::addColumn<QString>("key");
        QTest::addColumn<QString>("value"); // JSON text; empty = remove the key
        QTest::addColumn<QString>("fragment");
        QTest::newRow("hidden_size string") << "hidden_size" << "\"32\"" << "expected an integer";
        QTest::newRow("heads fractional") << "num_attention_heads" << "4.5" << "expected an integer";
        QTest::newRow("eps string") << "layer_norm_eps" << "\"1e-5\"" << "expected a number";
        QTest::newRow("act number") << "hidden_act" << "1" << "expected a string";
        QTest::newRow("act unknown") << "hidden_act" << "\"relu\"" << "not supported";
        QTest::newRow("projection string") << "projection_dim" << "\"x\"" << "expected an integer";
        QTest::newRow("layers missing") << "num_hidden_layers" << "" << "missing required key";
        QTest::newRow("heads not dividing") << "num_attention_heads" << "5" << "not divisible";
        QTest::newRow("negative vocab") << "vocab_size" << "-1" << "must be positive";
    }
    void config_errors_name_key_and_file()
    {
        QFETCH(QString, key);
        QFETCH(QString, value);
        QFETCH(QString, fragment);
        auto j = read_json(config_path());
        if (value.isEmpty())
            j.erase(key.toStdString());
        else
            j[key.toStdString()] = nlohmann::json::parse(value.toStdString());
        test::TempDir dir;
        const auto path = dir / "config.json";
        test::write_bytes(path, j.dump(2));
        try {
            CLIPTextConfig::from_json(path);
            QFAIL("expected ConfigError");
        } catch (const ConfigError& e) {
            const std::string msg = e.what();
            QVERIFY2(msg.rfind(path.string() + ": ", 0) == 0, msg.c_str());
            QVERIFY2(msg.find("\"" + key.toStdString() + "\"") != std::string::npos, msg.c_str());
            QVERIFY2(msg.find(fragment.toStdString()) != std::string::npos, msg.c_str());
        }
    }

    void unreadable_config_is_a_config_error()
    {
        test::TempDir dir;
        test::write_bytes(dir / "config.json", "{\"hidden_size\": 32,");
        try {
            CLIPTextConfig::from_json(dir / "config.json");
            QFAIL("expected ConfigError");
        } catch (const ConfigError& e) {
            QVERIFY2(std::string(e.what()).find((dir / "config.json").string()) == 0, e.what());
        }
        QVERIFY_THROWS_EXCEPTION(ConfigError, CLIPTextConfig::from_json(dir / "absent.json"));
    }
};

QTEST_APPLESS_MAIN(TestTextEncoder)
#include "test_text_encoder.moc"
