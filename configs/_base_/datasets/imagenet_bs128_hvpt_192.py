# ImageNet in mmpretrain's layout (data/imagenet/train + meta/train.txt);
# every single label becomes a one-hot multi-label target.
# HVPT subclasses of mmpretrain's ImageNet / LoadImageFromFile: clear
# errors naming the file (missing root with the expected layout, bad labels,
# unreadable images).
dataset_type = 'HVPTImageNet'
data_root = 'data/imagenet/'
# The class count, set once: the pipeline below and, in the pre-training
# configs, model.mlc_head follow it.
num_classes = 1000
input_size = 192

# The recipe. Both views and the mask take their size from
# HVPTMixedSignals' input_size (crops without a `scale` and a mask generator
# without an `input_size` get it), so one number changes them all.
#
# Online view (masked image modeling, contrastive query, multi-label head):
# SimMIM-like crop and flip, light colour.
online_view = [
    dict(type='RandomResizedCrop', crop_ratio_range=(0.67, 1.),
         aspect_ratio_range=(3. / 4., 4. / 3.)),
    dict(type='RandomFlip', prob=0.5),
    dict(type='RandomApply', prob=0.5, transforms=[
        dict(type='ColorJitter', brightness=0.2, contrast=0.2,
             saturation=0.1)]),
]
# Target view (momentum encoder, contrastive key): MoCo v3's second view.
target_view = [
    dict(type='RandomResizedCrop', crop_ratio_range=(0.2, 1.)),
    dict(type='RandomFlip', prob=0.5),
    dict(type='RandomApply', prob=0.8, transforms=[
        dict(type='ColorJitter', brightness=0.4, contrast=0.4,
             saturation=0.2, hue=0.1)]),
    dict(type='RandomGrayscale', prob=0.2, keep_channels=True,
         channel_weights=(0.114, 0.587, 0.2989)),
    dict(type='GaussianBlur', magnitude_range=(0.1, 2.0),
         magnitude_std='inf', prob=0.1),
    dict(type='Solarize', thr=128, prob=0.2),
]
# SimMIM's block mask on every online view, at ratio 0.3 (SimMIM: 0.6): one
# pass feeds all three heads, and the image-level heads see 70 % of each
# view. Chosen in a CPU comparison built like ImageNet; not measured at
# ImageNet scale (docs/benchmarks.md, "ImageNet-like setting").
mask_generator = dict(type='SimMIMMaskGenerator', mask_patch_size=32,
                      model_patch_size=4, mask_ratio=0.3)
# Share of online views that are masked: every view (ImageNet labels every
# image, so at 0 masked image modeling would get no view).
labelled_mask_prob = 1.
unlabelled_mask_prob = 1.

train_pipeline = [
    dict(type='HVPTLoadImageFromFile'),
    dict(type='HVPTMixedSignals', num_classes=num_classes,
         input_size=input_size, online_pipeline=online_view,
         target_pipeline=target_view, mask_generator=mask_generator,
         labelled_mask_prob=labelled_mask_prob,
         unlabelled_mask_prob=unlabelled_mask_prob),
    dict(type='HVPTPackInputs'),
]

train_dataloader = dict(
    batch_size=128,
    num_workers=8,
    persistent_workers=True,
    pin_memory=True,
    # A short last batch would leave the contrastive head few negatives and
    # break the projector's BatchNorm on a process holding one image.
    drop_last=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='train',
        pipeline=train_pipeline))
