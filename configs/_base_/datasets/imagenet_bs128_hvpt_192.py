# ImageNet in mmpretrain's layout (data/imagenet/train + meta/train.txt);
# every single label becomes a one-hot multi-label target.
# HVPT subclasses of mmpretrain's ImageNet / LoadImageFromFile: clear
# errors naming the file (missing root with the expected layout, bad labels,
# unreadable images).
dataset_type = 'HVPTImageNet'
data_root = 'data/imagenet/'
num_classes = 1000
input_size = 192

train_pipeline = [
    dict(type='HVPTLoadImageFromFile'),
    dict(type='HVPTMixedSignals', num_classes=num_classes,
         input_size=input_size),
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
