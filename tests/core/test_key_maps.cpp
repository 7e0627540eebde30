// SPDX-License-Identifier: GPL-3.0-or-later
// LDM -> diffusers renames and model-kind detection, checked against the fixtures' manifests:
// every source tensor is tagged (value = key index * kTag + row) so each converted tensor is traced
// back to its LDM key, row range and layout, the way the manifests themselves were made.
// torch first: Qt's `slots` macro (via test_support.h's <QString>) breaks torch headers when the
// PCH is off (STYLE.md 1)
#include <torch/torch.h>

#include "common/error.h"
#include "support/test_support.h"
#include "tensor_io/key_maps.h"
#include "tensor_io/model_detect.h"
#include "tensor_io/safetensors.h"
#include "tensor_io/state_dict.h"

#include <QtTest>

#include <fstream>
#include <set>
#include <sstream>

using namespace psa;
namespace fs = std::filesystem;

namespace {

constexpr int64_t kTag = 1'000'000; // > any dim-0 size in the manifests (49408)

using Shape = std::vector<int64_t>;

struct MapRow {
    std::string ldm_key;
    Shape ldm_shape;
    std::string component, diffusers_key;
    Shape diffusers_shape;
    std::string transform;
};

Shape parse_shape(const std::string& text)
{
    Shape shape;
    std::stringstream in(text);
    for (std::string part; std::getline(in, part, ',');)
        shape.push_back(std::stoll(part));
    return shape;
}

std::string shape_text(const Shape& shape)
{
    return shape_string(shape);
}

std::vector<std::vector<std::string>> read_tsv(const fs::path& path)
{
    std::ifstream in(path);
    if (!in)
        throw std::runtime_error("cannot read " + path.string());
    std::vector<std::vector<std::string>> rows;
    for (std::string line; std::getline(in, line);) {
        if (line.empty() || line[0] == '#')
            continue;
        std::vector<std::string> cells;
        std::stringstream cell_in(line);
        for (std::string cell; std::getline(cell_in, cell, '\t');)
            cells.push_back(cell);
        rows.push_back(cells);
    }
    return rows;
}

std::vector<MapRow> read_map(const fs::path& path)
{
    std::vector<MapRow> rows;
    for (const auto& c : read_tsv(path)) {
        if (c.size() != 6)
            throw std::runtime_error(path.string() + ": expected 6 columns");
        rows.push_back({c[0], parse_shape(c[1]), c[2], c[3], parse_shape(c[4]), c[5]});
    }
    return rows;
}

/// "name<TAB>shape" set of a model manifest (sd15_unet.tsv, ...).
std::set<std::string> read_model_manifest(const fs::path& path)
{
    std::set<std::string> entries;
    for (const auto& c : read_tsv(path))
        entries.insert(c.at(0) + "\t" + shape_text(parse_shape(c.at(1))));
    return entries;
}

std::set<std::string> name_shape_set(const StateDict& dict)
{
    std::set<std::string> entries;
    for (const auto& [name, t] : dict)
        entries.insert(name + "\t" + shape_text(t.sizes().vec()));
    return entries;
}

/// The LDM keys of a map in first-appearance order (split tensors appear on several rows).
std::vector<std::pair<std::string, Shape>> ldm_keys(const std::vector<MapRow>& rows)
{
    std::vector<std::pair<std::string, Shape>> keys;
    std::set<std::string> seen;
    for (const auto& row : rows)
        if (seen.insert(row.ldm_key).second)
            keys.emplace_back(row.ldm_key, row.ldm_shape);
    return keys;
}

/// A tensor of `shape` whose element [r, ...] is base + r, allocating only dim 0.
at::Tensor tagged(const Shape& shape, int64_t base)
{
    if (shape.empty())
        return torch::scalar_tensor(base, torch::kLong);
    Shape column(shape.size(), 1);
    column[0] = shape[0];
    return (torch::arange(shape[0], torch::kLong) + base).view(column).expand(shape);
}

struct FakeCheckpoint {
    StateDict dict;
    std::map<std::string, int64_t> base; // ldm key -> tag base
};

FakeCheckpoint fake_checkpoint(const std::vector<std::pair<std::string, Shape>>& keys)
{
    FakeCheckpoint fake;
    int64_t index = 0;
    for (const auto& [key, shape] : keys) {
        fake.base[key] = ++index * kTag;
        fake.dict[key] = tagged(shape, fake.base[key]);
    }
    return fake;
}

int64_t element(at::Tensor t, const Shape& index)
{
    for (int64_t i : index)
        t = t.select(0, i);
    while (t.dim() > 0)
        t = t.select(0, 0);
    return t.item<int64_t>();
}

const StateDict* component(const ComponentStateDicts& c, const std::string& name)
{
    if (name == "unet")
        return &c.unet;
    if (name == "vae")
        return &c.vae;
    if (name == "text_encoder")
        return &c.text_encoder;
    if (name == "text_encoder_2")
        return &c.text_encoder_2;
    return nullptr;
}

std::string first_lines(const std::vector<std::string>& lines, size_t n = 10)
{
    std::string text = std::to_string(lines.size()) + " problem(s):";
    for (size_t i = 0; i < std::min(n, lines.size()); ++i)
        text += "\n  " + lines[i];
    return text;
}

std::vector<std::string> set_difference(const std::set<std::string>& a,
                                        const std::set<std::string>& b, const std::string& label)
{
    std::vector<std::string> out;
    for (const auto& x : a)
        if (!b.count(x))
            out.push_back(label + x);
    return out;
}

/// Every manifest row present with its shape, traced to its LDM key and rows, as a view of it;
/// and no converted tensor that the manifest lacks.
std::vector<std::string> check_against_map(const std::vector<MapRow>& rows,
                                           const FakeCheckpoint& fake,
                                           const ComponentStateDicts& converted)
{
    std::vector<std::string> problems;
    std::set<std::string> expected;
    for (const auto& row : rows) {
        expected.insert(row.component + "\t" + row.diffusers_key);
        const StateDict* dict = component(converted, row.component);
        if (!dict) {
            problems.push_back("unknown component " + row.component);
            continue;
        }
        const auto it = dict->find(row.diffusers_key);
        if (it == dict->end()) {
            problems.push_back("missing " + row.component + "/" + row.diffusers_key);
            continue;
        }
        const at::Tensor& t = it->second;
        if (t.sizes().vec() != row.diffusers_shape) {
            problems.push_back(row.diffusers_key + ": expected " + shape_text(row.diffusers_shape) +
                               ", got " + shape_text(t.sizes().vec()));
            continue;
        }
        if (!t.is_alias_of(fake.dict.at(row.ldm_key)))
            problems.push_back(row.diffusers_key + " is a copy, not a view of " + row.ldm_key);
        const int64_t base = fake.base.at(row.ldm_key);
        std::vector<std::pair<Shape, int64_t>> probes; // index -> expected tag
        if (row.diffusers_shape.empty()) {
            probes.push_back({{}, base});
        } else if (row.transform == "transpose") {
            const int64_t last = row.diffusers_shape.at(1) - 1;
            probes = {
                {{0, 0}, base}, {{0, last}, base + last}, {{row.diffusers_shape[0] - 1, 0}, base}};
        } else {
            int64_t first_row = 0;
            if (row.transform.rfind("rows[", 0) == 0)
                first_row = std::stoll(row.transform.substr(5));
            else if (row.transform != "identity" && row.transform.rfind("reshape ", 0) != 0)
                problems.push_back(row.diffusers_key + ": unexpected transform " + row.transform);
            const int64_t last = row.diffusers_shape[0] - 1;
            probes = {{{0}, base + first_row}, {{last}, base + first_row + last}};
        }
        for (const auto& [index, want] : probes) {
            const int64_t got = element(t, index);
            if (got != want)
                problems.push_back(row.diffusers_key + " (" + row.transform + ") at " +
                                   shape_text(index) + ": tag " + std::to_string(got) +
                                   ", expected " + std::to_string(want) + " from " + row.ldm_key);
        }
    }
    for (const auto& name : {"unet", "vae", "text_encoder", "text_encoder_2"})
        for (const auto& entry : *component(converted, name))
            if (!expected.count(std::string(name) + "\t" + entry.first))
                problems.push_back("extra " + std::string(name) + "/" + entry.first);
    return problems;
}

/// Missing and extra "name<TAB>shape" entries of `got` against `want`.
std::vector<std::string> compare_sets(const std::set<std::string>& want,
                                      const std::set<std::string>& got, const std::string& what)
{
    auto problems = set_difference(want, got, what + " missing ");
    const auto extra = set_difference(got, want, what + " extra ");
    problems.insert(problems.end(), extra.begin(), extra.end());
    return problems;
}

NamesAndShapes names_and_shapes(const std::vector<std::pair<std::string, Shape>>& keys)
{
    return NamesAndShapes(keys.begin(), keys.end());
}

NamesAndShapes from_model_manifest(const fs::path& path)
{
    NamesAndShapes out;
    for (const auto& c : read_tsv(path))
        out.emplace_back(c.at(0), parse_shape(c.at(1)));
    return out;
}

std::string replace_prefix(const std::string& key, const std::string& from, const std::string& to)
{
    return key.rfind(from, 0) == 0 ? to + key.substr(from.size()) : key;
}

} // namespace

class TestKeyMaps : public QObject {
    Q_OBJECT

    fs::path manifests_;
    std::vector<MapRow> sd15_, sdxl_;

private Q_SLOTS:
    void initTestCase()
    {
        manifests_ = test::fixtures_dir() / "manifests";
        if (!fs::exists(manifests_ / "sd15_ldm_to_diffusers.tsv"))
            QFAIL(qPrintable("fixtures manifests missing: " +
                             QString::fromStdString(manifests_.string())));
        sd15_ = read_map(manifests_ / "sd15_ldm_to_diffusers.tsv");
        sdxl_ = read_map(manifests_ / "sdxl_ldm_to_diffusers.tsv");
        QVERIFY(sd15_.size() > 1000);
        QVERIFY(sdxl_.size() > 2000);
    }

    // ---- layout ----

    void sd15_layout_is_inferred_from_keys()
    {
        std::vector<std::string> keys;
        for (const auto& [key, shape] : ldm_keys(sd15_))
            keys.push_back(key);
        const auto layout = ldm_layout_from_keys(keys);
        const auto expected = LdmLayout::sd15();
        QCOMPARE(layout.unet.down_blocks, expected.unet.down_blocks);
        QCOMPARE(layout.unet.layers_per_block, expected.unet.layers_per_block);
        QCOMPARE(layout.unet.down_attention, expected.unet.down_attention);
        QCOMPARE(layout.unet.up_attention, expected.unet.up_attention);
        QCOMPARE(layout.vae.blocks, 4);
        QCOMPARE(layout.vae.layers_per_block, 2);
    }

    void sdxl_layout_is_inferred_from_keys()
    {
        std::vector<std::string> keys;
        for (const auto& [key, shape] : ldm_keys(sdxl_))
            keys.push_back(key);
        const auto layout = ldm_layout_from_keys(keys);
        QCOMPARE(layout.unet.down_blocks, 3);
        QCOMPARE(layout.unet.layers_per_block, 2);
        QCOMPARE(layout.unet.down_attention, (std::vector<bool>{false, true, true}));
        QCOMPARE(layout.unet.up_attention, (std::vector<bool>{true, true, false}));
        QCOMPARE(layout.vae.blocks, 4);
        QCOMPARE(layout.vae.layers_per_block, 2);
    }

    void inconsistent_block_indices_are_reported()
    {
        // a downsampler at input_blocks.3 means blocks of 3, but 1..4 do not split into them
        StateDict ldm;
        for (int i = 1; i <= 4; ++i)
            ldm["model.diffusion_model.input_blocks." + std::to_string(i) + ".0." +
                (i == 3 ? "op.weight" : "in_layers.0.weight")] = torch::zeros({1});
        try {
            convert_ldm_checkpoint(ldm, "broken.safetensors");
            QFAIL("expected ModelLoadError");
        } catch (const ModelLoadError& e) {
            const std::string message = e.what();
            QVERIFY2(message.rfind("broken.safetensors: ", 0) == 0, e.what());
            QVERIFY2(message.find("UNet layout") != std::string::npos, e.what());
        }
    }

    // ---- SD 1.5 ----

    void sd15_conversion_matches_manifest()
    {
        const auto fake = fake_checkpoint(ldm_keys(sd15_));
        const auto converted = convert_ldm_checkpoint(fake.dict, LdmLayout::sd15());
        QVERIFY2(converted.unknown.empty(), first_lines(converted.unknown).c_str());
        QVERIFY(converted.ignored.empty());
        QVERIFY(converted.text_encoder_2.empty());
        const auto problems = check_against_map(sd15_, fake, converted);
        QVERIFY2(problems.empty(), first_lines(problems).c_str());
        QCOMPARE(converted.unet.size() + converted.vae.size() + converted.text_encoder.size(),
                 sd15_.size());
    }

    void swapped_sources_are_caught_by_the_tags()
    {
        // guards the oracle itself: same names and shapes, wrong source tensors
        auto fake = fake_checkpoint(ldm_keys(sd15_));
        std::swap(fake.dict.at("first_stage_model.encoder.mid.attn_1.q.weight"),
                  fake.dict.at("first_stage_model.encoder.mid.attn_1.k.weight"));
        const auto converted = convert_ldm_checkpoint(fake.dict, LdmLayout::sd15());
        const auto problems = check_against_map(sd15_, fake, converted);
        QCOMPARE(problems.size(), size_t(4)); // first and last row of to_q and to_k
        QVERIFY2(problems[0].find("to_") != std::string::npos, problems[0].c_str());
    }

    void sd15_components_match_model_manifests()
    {
        const auto fake = fake_checkpoint(ldm_keys(sd15_));
        const auto converted = convert_ldm_checkpoint(fake.dict); // layout inferred
        for (const auto& [name, file] :
             {std::pair{"unet", "sd15_unet.tsv"}, std::pair{"vae", "sd15_vae.tsv"},
              std::pair{"text_encoder", "sd15_text_encoder.tsv"}}) {
            const auto problems = compare_sets(read_model_manifest(manifests_ / file),
                                               name_shape_set(*component(converted, name)), name);
            QVERIFY2(problems.empty(), first_lines(problems).c_str());
        }
    }

    void text_encoder_without_text_model_level()
    {
        const std::string with = "cond_stage_model.transformer.text_model.";
        const std::string without = "cond_stage_model.transformer.";
        auto rows = sd15_;
        for (auto& row : rows)
            row.ldm_key = replace_prefix(row.ldm_key, with, without);
        QVERIFY(std::any_of(rows.begin(), rows.end(), [&](const MapRow& r) {
            return r.ldm_key.rfind(without + "encoder.", 0) == 0;
        }));
        const auto fake = fake_checkpoint(ldm_keys(rows));
        const auto converted = convert_ldm_checkpoint(fake.dict);
        QVERIFY2(converted.unknown.empty(), first_lines(converted.unknown).c_str());
        const auto problems = check_against_map(rows, fake, converted);
        QVERIFY2(problems.empty(), first_lines(problems).c_str());
        const auto sets = compare_sets(read_model_manifest(manifests_ / "sd15_text_encoder.tsv"),
                                       name_shape_set(converted.text_encoder), "text_encoder");
        QVERIFY2(sets.empty(), first_lines(sets).c_str());
    }

    void known_extras_are_ignored_and_strays_reported()
    {
        auto fake = fake_checkpoint(ldm_keys(sd15_));
        const std::set<std::string> extras = {
            "model_ema.decay",
            "model_ema.num_updates",
            "model_ema.diffusion_modelinput_blocks00weight",
            "model_ema.diffusion_modelout2bias",
            "betas",
            "alphas_cumprod",
            "alphas_cumprod_prev",
            "sqrt_alphas_cumprod",
            "sqrt_one_minus_alphas_cumprod",
            "log_one_minus_alphas_cumprod",
            "sqrt_recip_alphas_cumprod",
            "sqrt_recipm1_alphas_cumprod",
            "posterior_variance",
            "posterior_log_variance_clipped",
            "posterior_mean_coef1",
            "posterior_mean_coef2",
            "cond_stage_model.transformer.text_model.embeddings.position_ids",
        };
        const std::set<std::string> strays = {
            "model.diffusion_model.input_blocks.99.0.in_layers.0.weight", // past the last block
            "model.diffusion_model.input_blocks.11.1.norm.weight", // down block 3 has no attention
            "model.diffusion_model.middle_block.3.in_layers.0.weight",
            "first_stage_model.encoder.down.0.block.0.bogus.weight",
            "first_stage_model.decoder.up.4.block.0.norm1.weight",
            "cond_stage_model.transformer.text_model.pooler.weight",
            "some_other_model.weight",
        };
        for (const auto& key : extras)
            fake.dict[key] = torch::zeros({1000});
        for (const auto& key : strays)
            fake.dict[key] = torch::zeros({4});
        // explicit layout: input_blocks.99 would (rightly) make layout inference refuse the file
        const auto converted = convert_ldm_checkpoint(fake.dict, LdmLayout::sd15());
        QCOMPARE(std::set<std::string>(converted.ignored.begin(), converted.ignored.end()), extras);
        QCOMPARE(std::set<std::string>(converted.unknown.begin(), converted.unknown.end()), strays);
        const auto problems = check_against_map(sd15_, fake, converted);
        QVERIFY2(problems.empty(), first_lines(problems).c_str());
        for (const auto& key : extras)
            QVERIFY(is_ignored_ldm_key(key));
        QVERIFY(is_ignored_ldm_key("conditioner.embedders.1.model.logit_scale"));
        QVERIFY(!is_ignored_ldm_key("model.diffusion_model.out.0.weight"));
    }

    void two_keys_for_one_name_are_refused()
    {
        StateDict ldm;
        ldm["cond_stage_model.transformer.text_model.final_layer_norm.weight"] = torch::zeros({4});
        ldm["cond_stage_model.transformer.final_layer_norm.weight"] = torch::zeros({4});
        QVERIFY_THROWS_EXCEPTION(ModelLoadError, convert_ldm_checkpoint(ldm, "dup.ckpt"));
    }

    void mapped_fp16_file_is_not_copied()
    {
        test::TempDir dir;
        const auto path = dir / "tiny.safetensors";
        const auto q = torch::arange(16, torch::kFloat16).view({4, 4, 1, 1});
        const auto norm = torch::ones({4}, torch::kFloat16);
        save_safetensors(path,
                         {{"first_stage_model.decoder.mid.attn_1.q.weight", q},
                          {"first_stage_model.decoder.mid.attn_1.norm.weight", norm},
                          {"cond_stage_model.transformer.text_model.final_layer_norm.bias", norm}});
        const auto file = SafetensorsFile::open(path);
        const auto ldm = load_state_dict(path);
        const auto converted = convert_ldm_checkpoint(ldm, path.string());
        const auto& to_q = converted.vae.at("decoder.mid_block.attentions.0.to_q.weight");
        QCOMPARE(to_q.sizes().vec(), (Shape{4, 4}));
        QCOMPARE(to_q.data_ptr(),
                 ldm.at("first_stage_model.decoder.mid.attn_1.q.weight").data_ptr());
        QVERIFY(file.is_zero_copy("first_stage_model.decoder.mid.attn_1.q.weight"));
        QVERIFY(torch::equal(to_q, q.view({4, 4})));
        QCOMPARE(converted.vae.at("decoder.mid_block.attentions.0.group_norm.weight").data_ptr(),
                 ldm.at("first_stage_model.decoder.mid.attn_1.norm.weight").data_ptr());
        QVERIFY(converted.text_encoder.count("text_model.final_layer_norm.bias"));
    }

    // ---- diffusers -> LDM (the inverse, SD 1.x) ----

    void sd15_diffusers_to_ldm_matches_manifest()
    {
        // diffusers tensors tagged per row; every LDM tensor must be a view of its manifest row
        ComponentStateDicts diffusers;
        std::map<std::string, at::Tensor> source; // ldm key -> the diffusers tensor it comes from
        int64_t index = 0;
        for (const auto& row : sd15_) {
            StateDict* dict = row.component == "unet"           ? &diffusers.unet
                              : row.component == "vae"          ? &diffusers.vae
                              : row.component == "text_encoder" ? &diffusers.text_encoder
                                                                : nullptr;
            QVERIFY2(dict, row.component.c_str());
            const auto t = tagged(row.diffusers_shape, ++index * kTag);
            (*dict)[row.diffusers_key] = t;
            source[row.ldm_key] = t;
        }
        const auto layout = ldm_layout_from_diffusers_keys(diffusers);
        const auto expected = LdmLayout::sd15();
        QCOMPARE(layout.unet.down_blocks, expected.unet.down_blocks);
        QCOMPARE(layout.unet.layers_per_block, expected.unet.layers_per_block);
        QCOMPARE(layout.unet.down_attention, expected.unet.down_attention);
        QCOMPARE(layout.unet.up_attention, expected.unet.up_attention);
        QCOMPARE(layout.vae.blocks, expected.vae.blocks);
        QCOMPARE(layout.vae.layers_per_block, expected.vae.layers_per_block);

        const auto ldm = convert_to_ldm_checkpoint(diffusers, layout);
        std::set<std::string> want;
        for (const auto& [key, shape] : ldm_keys(sd15_))
            want.insert(key + "\t" + shape_text(shape));
        const auto sets = compare_sets(want, name_shape_set(ldm), "ldm");
        QVERIFY2(sets.empty(), first_lines(sets).c_str());
        std::vector<std::string> problems;
        for (const auto& [key, t] : ldm) {
            const auto& from = source.at(key);
            if (!t.is_alias_of(from))
                problems.push_back(key + " is a copy");
            else if (!torch::equal(t.reshape(from.sizes()), from))
                problems.push_back(key + " holds other values than its diffusers tensor");
        }
        QVERIFY2(problems.empty(), first_lines(problems).c_str());
    }

    void sd15_ldm_round_trip_is_identity()
    {
        const auto fake = fake_checkpoint(ldm_keys(sd15_));
        const auto diffusers = convert_ldm_checkpoint(fake.dict);
        const auto back =
            convert_to_ldm_checkpoint(diffusers, ldm_layout_from_diffusers_keys(diffusers));
        QCOMPARE(back.size(), fake.dict.size());
        std::vector<std::string> problems;
        for (const auto& [key, original] : fake.dict) {
            const auto it = back.find(key);
            if (it == back.end()) {
                problems.push_back("missing " + key);
                continue;
            }
            const auto& t = it->second;
            if (t.sizes() != original.sizes() || t.strides() != original.strides() ||
                t.storage_offset() != original.storage_offset() || !t.is_alias_of(original) ||
                t.scalar_type() != original.scalar_type())
                problems.push_back(key + ": not the original tensor (" +
                                   shape_text(t.sizes().vec()) + ")");
        }
        QVERIFY2(problems.empty(), first_lines(problems).c_str());
    }

    void tiny_sd_round_trip_is_identity()
    {
        // a layout other than SD 1.5's: 2 UNet blocks (attention in down 0 / up 1), 2 VAE blocks
        const auto tiny = test::fixtures_dir() / "tiny-sd";
        ComponentStateDicts diffusers;
        diffusers.unet = load_state_dict(tiny / "unet" / "diffusion_pytorch_model.safetensors");
        diffusers.vae = load_state_dict(tiny / "vae" / "diffusion_pytorch_model.safetensors");
        diffusers.text_encoder = load_state_dict(tiny / "text_encoder" / "model.safetensors");
        const auto layout = ldm_layout_from_diffusers_keys(diffusers);
        QCOMPARE(layout.unet.down_blocks, 2);
        QCOMPARE(layout.unet.down_attention, (std::vector<bool>{true, false}));
        QCOMPARE(layout.unet.up_attention, (std::vector<bool>{false, true}));
        QCOMPARE(layout.vae.blocks, 2);

        const auto ldm = convert_to_ldm_checkpoint(diffusers, layout);
        QCOMPARE(ldm.size(),
                 diffusers.unet.size() + diffusers.vae.size() + diffusers.text_encoder.size());
        const auto inferred = ldm_layout_from_keys(ldm);
        QCOMPARE(inferred.unet.layers_per_block, layout.unet.layers_per_block);
        QCOMPARE(inferred.unet.down_attention, layout.unet.down_attention);
        QCOMPARE(inferred.unet.up_attention, layout.unet.up_attention);
        QCOMPARE(inferred.vae.blocks, layout.vae.blocks);
        QCOMPARE(inferred.vae.layers_per_block, layout.vae.layers_per_block);
        QVERIFY(ldm.count("model.diffusion_model.output_blocks.2.1.conv.weight")); // up 0 upsampler
        QVERIFY(ldm.count("first_stage_model.decoder.up.1.upsample.conv.weight")); // up_blocks.0
        QCOMPARE(ldm.at("first_stage_model.encoder.mid.attn_1.q.weight").dim(), int64_t(4));

        const auto again = convert_ldm_checkpoint(ldm);
        QVERIFY2(again.unknown.empty(), first_lines(again.unknown).c_str());
        for (const auto& [name, file] :
             {std::pair{"unet", &diffusers.unet}, std::pair{"vae", &diffusers.vae},
              std::pair{"text_encoder", &diffusers.text_encoder}}) {
            const StateDict& got = *component(again, name);
            QCOMPARE(got.size(), file->size());
            for (const auto& [key, t] : *file) {
                QVERIFY2(got.count(key), key.c_str());
                QCOMPARE(got.at(key).sizes(), t.sizes());
                QCOMPARE(got.at(key).data_ptr(), t.data_ptr());
            }
        }
    }

    void unmapped_diffusers_names_are_listed()
    {
        ComponentStateDicts diffusers;
        diffusers.unet["conv_in.weight"] = torch::zeros({4});
        diffusers.unet["down_blocks.0.resnets.0.bogus.weight"] = torch::zeros({4});
        diffusers.unet["down_blocks.0.resnets.0.norm1.weight"] = torch::zeros({4});
        diffusers.vae["decoder.up_blocks.0.resnets.0.frobnicate.weight"] = torch::zeros({4});
        diffusers.text_encoder["text_model.pooler.weight"] = torch::zeros({4});
        diffusers.text_encoder["text_model.embeddings.position_ids"] = torch::zeros({1, 77});
        try {
            convert_to_ldm_checkpoint(diffusers, ldm_layout_from_diffusers_keys(diffusers));
            QFAIL("expected ModelLoadError");
        } catch (const ModelLoadError& e) {
            const std::string message = e.what();
            QVERIFY2(message.rfind("3 diffusers tensors", 0) == 0, e.what());
            for (const char* name : {"unet/down_blocks.0.resnets.0.bogus.weight",
                                     "vae/decoder.up_blocks.0.resnets.0.frobnicate.weight",
                                     "text_encoder/text_model.pooler.weight"})
                QVERIFY2(message.find(name) != std::string::npos, e.what());
            QVERIFY2(message.find("position_ids") == std::string::npos, e.what());
        }
        diffusers = {};
        diffusers.text_encoder["text_model.embeddings.position_ids"] = torch::zeros({1, 77});
        diffusers.text_encoder["text_model.final_layer_norm.weight"] = torch::zeros({4});
        const auto ldm =
            convert_to_ldm_checkpoint(diffusers, ldm_layout_from_diffusers_keys(diffusers));
        QCOMPARE(ldm.size(), size_t(1));
        QVERIFY(ldm.count("cond_stage_model.transformer.text_model.final_layer_norm.weight"));
        diffusers.text_encoder_2["text_projection.weight"] = torch::zeros({4, 4});
        QVERIFY_THROWS_EXCEPTION(
            ModelLoadError,
            convert_to_ldm_checkpoint(diffusers, ldm_layout_from_diffusers_keys(diffusers)));
    }

    // ---- SDXL (the same rules, plus OpenCLIP-G) ----

    void sdxl_conversion_matches_manifest()
    {
        const auto fake = fake_checkpoint(ldm_keys(sdxl_));
        const auto converted = convert_ldm_checkpoint(fake.dict);
        QVERIFY2(converted.unknown.empty(), first_lines(converted.unknown).c_str());
        const auto problems = check_against_map(sdxl_, fake, converted);
        QVERIFY2(problems.empty(), first_lines(problems).c_str());
        for (const auto& [name, file] :
             {std::pair{"unet", "sdxl_unet.tsv"}, std::pair{"vae", "sdxl_vae.tsv"},
              std::pair{"text_encoder", "sdxl_text_encoder.tsv"},
              std::pair{"text_encoder_2", "sdxl_text_encoder_2.tsv"}}) {
            const auto sets = compare_sets(read_model_manifest(manifests_ / file),
                                           name_shape_set(*component(converted, name)), name);
            QVERIFY2(sets.empty(), first_lines(sets).c_str());
        }
    }

    void sd2_open_clip_text_encoder_is_refused()
    {
        // SD 2.x stores OpenCLIP under cond_stage_model.model.* with the same inner names as SDXL's
        StateDict ldm = fake_checkpoint(ldm_keys(sd15_)).dict;
        for (auto it = ldm.begin(); it != ldm.end();)
            it = it->first.rfind("cond_stage_model.", 0) == 0 ? ldm.erase(it) : std::next(it);
        for (const auto& [key, shape] : ldm_keys(sdxl_))
            if (key.rfind("conditioner.embedders.1.model.", 0) == 0)
                ldm[replace_prefix(key, "conditioner.embedders.1.model.",
                                   "cond_stage_model.model.")] = tagged(shape, 0);
        try {
            convert_ldm_checkpoint(ldm, "v2-1_768.safetensors");
            QFAIL("expected ModelLoadError");
        } catch (const ModelLoadError& e) {
            const std::string message = e.what();
            QVERIFY2(message.rfind("v2-1_768.safetensors: ", 0) == 0, e.what());
            QVERIFY2(message.find("not supported") != std::string::npos, e.what());
            QVERIFY2(message.find(unsupported_model_hint(ModelKind::SD2)) != std::string::npos,
                     e.what());
        }
    }

    // ---- model kind ----

    void detect_model_kind_data()
    {
        QTest::addColumn<QString>("variant");
        QTest::addColumn<int>("kind");
        QTest::newRow("sd15") << "sd15" << int(ModelKind::SD1);
        QTest::newRow("sd15 without text_model level")
            << "sd15_no_text_model" << int(ModelKind::SD1);
        QTest::newRow("sd15 unet only") << "sd15_unet_only" << int(ModelKind::SD1);
        QTest::newRow("sd15 inpainting") << "sd15_inpainting" << int(ModelKind::SD1Inpainting);
        QTest::newRow("sdxl") << "sdxl" << int(ModelKind::SDXL);
        QTest::newRow("sdxl unet only") << "sdxl_unet_only" << int(ModelKind::SDXL);
        QTest::newRow("sd2 open_clip") << "sd2_open_clip" << int(ModelKind::SD2);
        QTest::newRow("sd2 unet only (1024 wide)") << "sd2_unet_only" << int(ModelKind::SD2);
        QTest::newRow("diffusers sd15 unet") << "diffusers_sd15_unet" << int(ModelKind::SD1);
        QTest::newRow("diffusers sdxl unet") << "diffusers_sdxl_unet" << int(ModelKind::SDXL);
        QTest::newRow("vae only") << "vae_only" << int(ModelKind::Unknown);
        QTest::newRow("empty") << "empty" << int(ModelKind::Unknown);
    }

    void detect_model_kind()
    {
        QFETCH(QString, variant);
        QFETCH(int, kind);
        const std::string v = variant.toStdString();
        auto sd15 = names_and_shapes(ldm_keys(sd15_));
        const auto sdxl = names_and_shapes(ldm_keys(sdxl_));
        const auto only = [](NamesAndShapes all, const std::string& prefix) {
            std::erase_if(all, [&](const auto& e) { return e.first.rfind(prefix, 0) != 0; });
            return all;
        };
        const auto without = [](NamesAndShapes all, const std::string& prefix) {
            std::erase_if(all, [&](const auto& e) { return e.first.rfind(prefix, 0) == 0; });
            return all;
        };
        NamesAndShapes input;
        if (v == "sd15") {
            input = sd15;
        } else if (v == "sd15_no_text_model") {
            for (auto& [name, shape] : sd15)
                name = replace_prefix(name, "cond_stage_model.transformer.text_model.",
                                      "cond_stage_model.transformer.");
            input = sd15;
        } else if (v == "sd15_unet_only") {
            input = only(sd15, "model.diffusion_model.");
        } else if (v == "sd15_inpainting") {
            for (auto& [name, shape] : sd15)
                if (name == "model.diffusion_model.input_blocks.0.0.weight")
                    shape[1] = 9;
            input = sd15;
        } else if (v == "sdxl") {
            input = sdxl;
        } else if (v == "sdxl_unet_only") {
            input = only(sdxl, "model.diffusion_model.");
        } else if (v == "sd2_open_clip") {
            input = without(sd15, "cond_stage_model.");
            for (const auto& [name, shape] : only(sdxl, "conditioner.embedders.1.model."))
                input.emplace_back(replace_prefix(name, "conditioner.embedders.1.model.",
                                                  "cond_stage_model.model."),
                                   shape);
        } else if (v == "sd2_unet_only") {
            input = only(sd15, "model.diffusion_model.");
            for (auto& [name, shape] : input)
                if (name.find("attn2.to_k.") != std::string::npos ||
                    name.find("attn2.to_v.") != std::string::npos)
                    shape[1] = 1024;
        } else if (v == "diffusers_sd15_unet") {
            input = from_model_manifest(manifests_ / "sd15_unet.tsv");
        } else if (v == "diffusers_sdxl_unet") {
            input = from_model_manifest(manifests_ / "sdxl_unet.tsv");
        } else if (v == "vae_only") {
            input = only(sd15, "first_stage_model.");
        }
        QCOMPARE(model_kind_name(psa::detect_model_kind(input)), model_kind_name(ModelKind(kind)));
    }

    void detect_from_safetensors_header()
    {
        std::vector<TensorInfo> header;
        for (const auto& [name, shape] : ldm_keys(sd15_)) {
            TensorInfo info;
            info.name = name;
            info.dtype = "F16";
            info.shape = name == "model.diffusion_model.input_blocks.0.0.weight"
                             ? Shape{320, 9, 3, 3}
                             : shape;
            header.push_back(info);
        }
        QCOMPARE(model_kind_name(psa::detect_model_kind(header)),
                 model_kind_name(ModelKind::SD1Inpainting));
    }

    void detect_from_unet_config()
    {
        QCOMPARE(model_kind_name(
                     detect_model_kind_from_unet_config(manifests_ / "sd15_unet_config.json")),
                 model_kind_name(ModelKind::SD1));
        QCOMPARE(model_kind_name(
                     detect_model_kind_from_unet_config(manifests_ / "sdxl_unet_config.json")),
                 model_kind_name(ModelKind::SDXL));
        test::TempDir dir;
        const std::pair<const char*, ModelKind> cases[] = {
            {R"({"cross_attention_dim": 1024, "in_channels": 4})", ModelKind::SD2},
            {R"({"cross_attention_dim": 768, "in_channels": 9})", ModelKind::SD1Inpainting},
            {R"({"cross_attention_dim": 768})", ModelKind::SD1},
            {R"({"cross_attention_dim": [2048, 2048], "addition_embed_type": "text_time"})",
             ModelKind::SDXL},
        };
        for (const auto& [text, want] : cases) {
            test::write_bytes(dir / "config.json", text);
            QCOMPARE(model_kind_name(detect_model_kind_from_unet_config(dir / "config.json")),
                     model_kind_name(want));
        }
        test::write_bytes(dir / "bad.json", "{\"cross_attention_dim\": ");
        QVERIFY_THROWS_EXCEPTION(ConfigError, detect_model_kind_from_unet_config(dir / "bad.json"));
        QVERIFY_THROWS_EXCEPTION(ConfigError,
                                 detect_model_kind_from_unet_config(dir / "absent.json"));
    }

    void kind_names_and_hints()
    {
        QCOMPARE(model_kind_name(ModelKind::SD1), std::string("SD 1.x"));
        QCOMPARE(model_kind_name(ModelKind::SDXL), std::string("SDXL"));
        QVERIFY(unsupported_model_hint(ModelKind::SD1).empty());
        for (auto kind :
             {ModelKind::SD2, ModelKind::SDXL, ModelKind::SD1Inpainting, ModelKind::Unknown}) {
            const auto hint = unsupported_model_hint(kind);
            QVERIFY(!hint.empty());
            QVERIFY(hint.find('\n') == std::string::npos);
            QVERIFY2(hint.find("SD 1.x") != std::string::npos, hint.c_str());
        }
        QVERIFY(unsupported_model_hint(ModelKind::SDXL).find("SDXL") != std::string::npos);
    }
};

QTEST_APPLESS_MAIN(TestKeyMaps)
#include "test_key_maps.moc"
