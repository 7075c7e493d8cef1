export declare const NOISE_TABLE_SIZE: number;
export declare function mulberry32(seed: number): () => number;
export declare function normalNoiseTable(random: () => number): Float32Array;
